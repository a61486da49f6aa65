package dockerapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// A failing source (a pack file that stops matching its checksum) is
// named as the cause, not blamed on the connection to the engine.
func TestImportAndLoadBlameTheSource(t *testing.T) {
	f := newFakeEngine(t, "1.41")
	f.handle("GET /volumes/v1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"Name": "v1", "Driver": "local"})
	})
	f.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		writeJSON(w, map[string]any{"Id": "helper1"})
	})
	f.handle("DELETE /containers/helper1", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	f.handle("PUT /containers/helper1/archive", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			w.WriteHeader(http.StatusOK)
		}
	})
	f.handle("POST /images/load", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			writeJSON(w, map[string]any{"stream": "Loaded image: app:1\n"})
		}
	})
	c := f.client(t)
	good := dockertest.MustTar(t, dockertest.TarEntry{Name: "./"}, dockertest.TarEntry{Name: "a", Body: bytes.Repeat([]byte("a"), 200000)})
	boom := errors.New("pack file changed: expected sha256 aaa, actual bbb")
	src := func() io.Reader { return io.MultiReader(bytes.NewReader(good[:150000]), &errAfter{err: boom}) }

	err := c.ImportVolume(context.Background(), "v1", "app:1", src())
	if !errors.Is(err, dockerapi.ErrVolumeImport) || !errors.Is(err, boom) || errors.Is(err, dockerapi.ErrEngineUnreachable) {
		t.Fatalf("ImportVolume: %v", err)
	}
	_, err = c.LoadImages(context.Background(), src())
	if !errors.Is(err, dockerapi.ErrImageLoad) || !errors.Is(err, boom) || errors.Is(err, dockerapi.ErrEngineUnreachable) {
		t.Fatalf("LoadImages: %v", err)
	}
	if _, err := c.LoadImages(context.Background(), bytes.NewReader(good)); err != nil {
		t.Fatalf("LoadImages of a good source: %v", err)
	}
}

type errAfter struct{ err error }

func (e *errAfter) Read([]byte) (int, error) { return 0, e.err }

// Incomplete-restore markers are labelled containers mounting the volume,
// found and removed by label.
func TestVolumeMarkers(t *testing.T) {
	f := newFakeEngine(t, "1.41")
	var (
		mu      sync.Mutex
		created []map[string]any
		removed []string
	)
	f.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		created = append(created, body)
		mu.Unlock()
		if !strings.HasPrefix(r.URL.Query().Get("name"), "dockpack-restore-marker-") {
			t.Errorf("marker name %q", r.URL.Query().Get("name"))
		}
		w.WriteHeader(http.StatusCreated)
		writeJSON(w, map[string]any{"Id": "marker1"})
	})
	f.handle("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Query().Get("filters"), dockerapi.LabelRestoreVolume+"=v1") {
			t.Errorf("filters %q", r.URL.Query().Get("filters"))
		}
		writeJSON(w, []map[string]any{
			{"Id": "marker1", "Labels": map[string]string{dockerapi.LabelRestoreIncomplete: "migration_pack_x", dockerapi.LabelRestoreVolume: "v1"}},
			{"Id": "other", "Labels": map[string]string{dockerapi.LabelRestoreVolume: "v1"}},
		})
	})
	f.handle("DELETE /containers/marker1", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		removed = append(removed, "marker1")
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	c := f.client(t)
	ctx := context.Background()
	if err := c.MarkVolumeIncomplete(ctx, "v1", "app:1", "migration_pack_x"); err != nil {
		t.Fatal(err)
	}
	hc, _ := created[0]["HostConfig"].(map[string]any)
	mounts, _ := hc["Mounts"].([]any)
	if lbl, _ := created[0]["Labels"].(map[string]any); lbl[dockerapi.LabelRestoreIncomplete] != "migration_pack_x" || len(mounts) != 1 {
		t.Fatalf("marker %v", created[0])
	}
	marks, err := c.VolumeIncompleteMarks(ctx, "v1")
	if err != nil || len(marks) != 1 || marks[0] != "migration_pack_x" {
		t.Fatalf("marks %v %v", marks, err)
	}
	if err := c.ClearVolumeMarks(ctx, "v1"); err != nil || len(removed) != 1 {
		t.Fatalf("clear: %v %v", err, removed)
	}
	if err := c.MarkVolumeIncomplete(ctx, "../x", "app:1", "p"); !errors.Is(err, dockerapi.ErrInvalidArgument) {
		t.Fatalf("bad volume name: %v", err)
	}
}
