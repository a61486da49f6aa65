package dockerapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := dockerapi.New(ctx, dockerapi.Options{Host: "unix:///nonexistent/dockpack-test.sock"})
	if !errors.Is(err, dockerapi.ErrEngineUnreachable) {
		t.Fatalf("err = %v, want ErrEngineUnreachable", err)
	}
	if !strings.Contains(err.Error(), "/nonexistent/dockpack-test.sock") {
		t.Errorf("error does not name the host: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    dockerapi.Options
		ok   bool
	}{
		{"zero", dockerapi.Options{}, true},
		{"unix", dockerapi.Options{Host: "unix:///var/run/docker.sock"}, true},
		{"tcp", dockerapi.Options{Host: "tcp://10.0.0.5:2376"}, true},
		{"no scheme", dockerapi.Options{Host: "/var/run/docker.sock"}, false},
		{"negative timeout", dockerapi.Options{RestartTimeout: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, dockerapi.ErrInvalidArgument) {
				t.Errorf("error does not wrap ErrInvalidArgument: %v", err)
			}
		})
	}
}

func TestInfoFromFake(t *testing.T) {
	f := newFakeEngine(t, "1.41")
	c := f.client(t)
	ei, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ei.Arch != "amd64" || ei.OS != "linux" || ei.ImageStore != dockerapi.ImageStoreGraphDriver ||
		ei.APIVersion != "1.41" || ei.ClientAPIVersion != "1.41" || ei.Local || ei.DataRoot != "/var/lib/docker" {
		t.Errorf("Info = %+v", ei)
	}
}

// TestSaveImagesValidation feeds broken ImageSave bodies to SaveImages.
func TestSaveImagesValidation(t *testing.T) {
	archive, digest := legacyImageArchive(t, "app:1")
	engineErr := `{"errorDetail":{"message":"open /var/lib/docker/overlay2/abc/diff: no such file or directory"},"error":"open /var/lib/docker/overlay2/abc/diff: no such file or directory"}`
	for _, tc := range []struct {
		name         string
		body         []byte
		ok           bool
		wantContains string
	}{
		{name: "complete", body: archive, ok: true},
		{name: "zero padding after the trailer", body: append(append([]byte{}, archive...), make([]byte, 10240)...), ok: true},
		{name: "truncated mid-entry", body: archive[:len(archive)/2]},
		{name: "truncated before the end-of-archive marker", body: archive[:len(archive)-1024]},
		{name: "engine error appended to a partial tar", body: append(append([]byte{}, archive[:1536]...), engineErr...), wantContains: "no such file or directory"},
		{name: "engine error appended to a complete tar", body: append(append([]byte{}, archive...), engineErr...), wantContains: "no such file or directory"},
		{name: "empty body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t, "1.41")
			f.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) {
				if got := r.URL.Query()["names"]; len(got) != 1 || got[0] != "app:1" {
					t.Errorf("names = %v", got)
				}
				w.Header().Set("Content-Type", "application/x-tar")
				w.Write(tc.body)
			})
			c := f.client(t)
			var out bytes.Buffer
			res, err := c.SaveImages(context.Background(), []string{"app:1"}, &out)
			if res.Bytes != int64(out.Len()) {
				t.Errorf("Bytes = %d, written %d", res.Bytes, out.Len())
			}
			if !bytes.Equal(out.Bytes(), tc.body) {
				t.Errorf("w did not get the body byte for byte (%d of %d bytes)", out.Len(), len(tc.body))
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("SaveImages: %v", err)
				}
				if len(res.Images) != 1 || res.Images[0].ConfigDigest != digest || res.Images[0].Ref != "app:1" {
					t.Errorf("Images = %+v, want app:1 %s", res.Images, digest)
				}
				return
			}
			if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || !errors.Is(err, tarcheck.ErrIncomplete) {
				t.Fatalf("err = %v, want ErrImageSaveIncomplete wrapping tarcheck.ErrIncomplete", err)
			}
			if tc.wantContains != "" && !strings.Contains(err.Error(), tc.wantContains) {
				t.Errorf("error does not quote the engine: %v", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestSaveImagesNotFound(t *testing.T) {
	f := newFakeEngine(t, "1.41")
	f.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"reference does not exist"}`))
	})
	_, err := f.client(t).SaveImages(context.Background(), []string{"nope:1"}, io.Discard)
	if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || !errors.Is(err, dockerapi.ErrImageNotFound) {
		t.Fatalf("err = %v, want ErrImageSaveIncomplete and ErrImageNotFound", err)
	}
}

func TestSaveImagesArchiveLacksRef(t *testing.T) {
	archive, _ := legacyImageArchive(t, "other:2")
	f := newFakeEngine(t, "1.41")
	f.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) { w.Write(archive) })
	_, err := f.client(t).SaveImages(context.Background(), []string{"app:1"}, io.Discard)
	if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || !strings.Contains(err.Error(), "app:1") {
		t.Fatalf("err = %v, want ErrImageSaveIncomplete naming app:1", err)
	}
}

// TestSaveImagesPlatform: with API ≥ 1.48 the engine's own platform is
// asked for when every image has it, and not otherwise.
func TestSaveImagesPlatform(t *testing.T) {
	archive, _ := legacyImageArchive(t, "app:1")
	for _, tc := range []struct {
		api, imageArch string
		want           bool
	}{
		{"1.48", "amd64", true},
		{"1.48", "arm64", false},
		{"1.41", "amd64", false},
	} {
		t.Run(tc.api+"-"+tc.imageArch, func(t *testing.T) {
			f := newFakeEngine(t, tc.api)
			f.handle("GET /images/{name}/json", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"Id": "sha256:" + strings.Repeat("a", 64), "Os": "linux", "Architecture": tc.imageArch})
			})
			var platform []string
			f.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) {
				platform = r.URL.Query()["platform"]
				w.Write(archive)
			})
			res, err := f.client(t).SaveImages(context.Background(), []string{"app:1"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := len(platform) == 1 && strings.Contains(platform[0], `"architecture":"amd64"`) && strings.Contains(platform[0], `"os":"linux"`)
			if got != tc.want || (len(platform) > 0) != tc.want {
				t.Fatalf("platform query = %q, want platform=%v", platform, tc.want)
			}
			if tc.want && res.Platform != "linux/amd64" {
				t.Errorf("Platform = %q", res.Platform)
			}
		})
	}
}

// blockingBody serves some bytes, then blocks until the client goes away.
func blockingBody(prefix []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Docker-Container-Path-Stat", pathStatHeader("data"))
		w.Write(prefix)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

// firstWrite calls fn on the first Write.
type firstWrite struct {
	once sync.Once
	fn   func()
}

func (f *firstWrite) Write(p []byte) (int, error) {
	f.once.Do(f.fn)
	return len(p), nil
}

// TestCancelDuringSlowBody: a canceled ctx aborts a stream the engine has
// stopped sending promptly.
func TestCancelDuringSlowBody(t *testing.T) {
	archive, _ := legacyImageArchive(t, "app:1")
	volTar := dockertest.MustTar(t, dockertest.TarEntry{Name: "data/"}, dockertest.TarEntry{Name: "data/a", Body: bytes.Repeat([]byte("x"), 100000)})
	st := dockerapi.Stack{Project: "p", Containers: []dockerapi.Container{{ID: "c1", Name: "p-app-1",
		Mounts: []dockerapi.Mount{{Type: "volume", Name: "vol1", Destination: "/data"}}}}}
	for _, tc := range []struct {
		name    string
		run     func(ctx context.Context, c *dockerapi.Client, w io.Writer) error
		wantErr error
	}{
		{"SaveImages", func(ctx context.Context, c *dockerapi.Client, w io.Writer) error {
			_, err := c.SaveImages(ctx, []string{"app:1"}, w)
			return err
		}, dockerapi.ErrImageSaveIncomplete},
		{"ExportVolume", func(ctx context.Context, c *dockerapi.Client, w io.Writer) error {
			_, err := c.ExportVolume(ctx, st, "vol1", w)
			return err
		}, dockerapi.ErrVolumeExportIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t, "1.41")
			f.handle("GET /images/get", blockingBody(archive[:4096]))
			f.handle("GET /containers/c1/archive", blockingBody(volTar[:4096]))
			f.handle("GET /volumes/vol1", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"Name": "vol1", "Driver": "local"})
			})
			c := f.client(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := make(chan struct{})
			w := &firstWrite{fn: func() { close(started) }}
			done := make(chan error, 1)
			go func() { done <- tc.run(ctx, c, w) }()
			select {
			case <-started:
			case err := <-done:
				t.Fatalf("returned before the body stalled: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("no byte arrived")
			}
			t0 := time.Now()
			cancel()
			select {
			case err := <-done:
				t.Logf("returned %v after cancel: %v", time.Since(t0), err)
				if !errors.Is(err, context.Canceled) || !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want context.Canceled and %v", err, tc.wantErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still blocked 5 s after cancel")
			}
		})
	}
}

func TestExportVolumeCutMidway(t *testing.T) {
	volTar := dockertest.MustTar(t, dockertest.TarEntry{Name: "data/"}, dockertest.TarEntry{Name: "data/a", Body: bytes.Repeat([]byte("x"), 100000)},
		dockertest.TarEntry{Name: "data/b", Body: []byte("b")})
	st := dockerapi.Stack{Project: "p", Containers: []dockerapi.Container{{ID: "c1", Name: "p-app-1",
		Mounts: []dockerapi.Mount{{Type: "volume", Name: "vol1", Destination: "/data"}}}}}
	for _, tc := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"complete", volTar, true},
		{"cut midway", volTar[:50000], false},
		{"no end-of-archive marker", volTar[:len(volTar)-1024], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t, "1.41")
			f.handle("GET /volumes/vol1", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"Name": "vol1", "Driver": "local"})
			})
			f.handle("GET /containers/c1/archive", func(w http.ResponseWriter, r *http.Request) {
				if p := r.URL.Query().Get("path"); p != "/data" {
					t.Errorf("path = %q", p)
				}
				w.Header().Set("X-Docker-Container-Path-Stat", pathStatHeader("data"))
				w.Write(tc.body)
			})
			var out bytes.Buffer
			res, err := f.client(t).ExportVolume(context.Background(), st, "vol1", &out)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if res.Via != "container p-app-1" || res.Entries != 3 || res.ContentBytes != 100001 || res.Bytes != int64(out.Len()) {
					t.Errorf("res = %+v (%d bytes written)", res, out.Len())
				}
				return
			}
			if !errors.Is(err, dockerapi.ErrVolumeExportIncomplete) || !strings.Contains(err.Error(), `"vol1"`) {
				t.Fatalf("err = %v, want ErrVolumeExportIncomplete naming vol1", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestLoadImagesEngineError(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		ok               bool
	}{
		{name: "ok", body: `{"stream":"Loaded image: app:1\n"}` + "\n" + `{"stream":"Loaded image ID: sha256:abc\n"}`, ok: true},
		{name: "errorDetail", body: `{"stream":"Loaded image: app:1\n"}` + "\n" + `{"errorDetail":{"message":"write /var/lib/docker/tmp/x: no space left on device"},"error":"write /var/lib/docker/tmp/x: no space left on device"}`,
			want: "no space left on device"},
		{name: "nothing loaded", body: `{"stream":"\n"}`, want: "no loaded image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t, "1.41")
			var got int
			f.handle("POST /images/load", func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got = len(b)
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(tc.body))
			})
			res, err := f.client(t).LoadImages(context.Background(), strings.NewReader("tar bytes"))
			if got != len("tar bytes") {
				t.Errorf("engine received %d bytes", got)
			}
			if tc.ok {
				if err != nil || fmt.Sprint(res.Loaded) != "[app:1 sha256:abc]" {
					t.Fatalf("LoadImages = %+v, %v", res, err)
				}
				return
			}
			if !errors.Is(err, dockerapi.ErrImageLoad) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrImageLoad containing %q", err, tc.want)
			}
		})
	}
}

// TestStopContainersPartialFailure: when stopping the second container
// fails, the first is started again and the third never touched; restart
// is idempotent.
func TestStopContainersPartialFailure(t *testing.T) {
	f := newFakeEngine(t, "1.41")
	var mu sync.Mutex
	running := map[string]bool{"c1": true, "c2": true, "c3": true}
	names := map[string]string{"c1": "b-second", "c2": "a-first", "c3": "c-third"}
	f.handle("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		mu.Lock()
		defer mu.Unlock()
		status := "exited"
		if running[id] {
			status = "running"
		}
		writeJSON(w, map[string]any{"Id": id, "Name": "/" + names[id], "Image": "sha256:x",
			"State": map[string]any{"Status": status, "Running": running[id]}, "Config": map[string]any{}, "HostConfig": map[string]any{}})
	})
	f.handle("POST /containers/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if id == "c1" { // b-second, stopped after a-first
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"message":"cannot stop container: permission denied"}`))
			return
		}
		mu.Lock()
		running[id] = false
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	f.handle("POST /containers/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		running[r.PathValue("id")] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	c := f.client(t)
	restart, err := c.StopContainers(context.Background(), []string{"c3", "c1", "c2"}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err = %v, want the stop failure", err)
	}
	if got := f.called("POST /containers/"); fmt.Sprint(got) != "[POST /containers/c2/stop POST /containers/c1/stop POST /containers/c2/start]" {
		t.Fatalf("calls = %v", got)
	}
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	if got := f.called("POST /containers/"); len(got) != 3 {
		t.Fatalf("restart after the automatic one started again: %v", got)
	}
}

func TestStopContainersRestartIdempotent(t *testing.T) {
	f := newFakeEngine(t, "1.41")
	f.handle("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"Id": r.PathValue("id"), "Name": "/" + r.PathValue("id"),
			"State": map[string]any{"Status": "running", "Running": r.PathValue("id") != "idle"}, "Config": map[string]any{}})
	})
	f.handle("POST /containers/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("t"); got != "3" {
			t.Errorf("stop timeout t=%q, want 3 (2.5 s rounded up)", got)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	f.handle("POST /containers/{id}/start", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c := f.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	restart, err := c.StopContainers(ctx, []string{"web", "db", "idle"}, 2500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	cancel() // the undo must work after the caller's context is gone
	for i := 0; i < 3; i++ {
		if err := restart(); err != nil {
			t.Fatal(err)
		}
	}
	want := "[POST /containers/db/stop POST /containers/web/stop POST /containers/db/start POST /containers/web/start]"
	if got := f.called("POST /containers/"); fmt.Sprint(got) != want {
		t.Fatalf("calls = %v\nwant %v", got, want)
	}
}

func TestResolveStackEmptyName(t *testing.T) {
	_, err := newFakeEngine(t, "1.41").client(t).ResolveStack(context.Background(), " ")
	if !errors.Is(err, dockerapi.ErrInvalidArgument) {
		t.Fatalf("err = %v, want ErrInvalidArgument", err)
	}
}

func TestProjectNotFoundError(t *testing.T) {
	err := error(&dockerapi.ProjectNotFoundError{Project: "ragflow", Known: []string{"docker", "ragflowauth"}})
	if !errors.Is(err, dockerapi.ErrProjectNotFound) {
		t.Fatal("not ErrProjectNotFound")
	}
	if !strings.Contains(err.Error(), "docker, ragflowauth") {
		t.Errorf("message does not list the known projects: %v", err)
	}
	var pnf *dockerapi.ProjectNotFoundError
	if !errors.As(fmt.Errorf("resolve: %w", err), &pnf) || pnf.Project != "ragflow" {
		t.Error("errors.As failed")
	}
}

// TestImportVolumeValidates: the tar is checked on its way to the engine; a
// truncated one aborts the upload, and the helper container is removed
// either way.
func TestImportVolumeValidates(t *testing.T) {
	good := dockertest.MustTar(t, dockertest.TarEntry{Name: "./"}, dockertest.TarEntry{Name: "a", Body: bytes.Repeat([]byte("a"), 300000)})
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"complete", good, true},
		{"no end-of-archive marker", good[:len(good)-1024], false},
		{"cut mid-file", good[:100000], false},
		{"not a tar", bytes.Repeat([]byte("garbage!"), 1000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t, "1.41")
			f.handle("GET /volumes/v1", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"Name": "v1", "Driver": "local"})
			})
			var created map[string]any
			f.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
				_ = json.NewDecoder(r.Body).Decode(&created)
				w.WriteHeader(http.StatusCreated)
				writeJSON(w, map[string]any{"Id": "helper1"})
			})
			var removed atomic.Bool
			f.handle("DELETE /containers/helper1", func(w http.ResponseWriter, r *http.Request) {
				removed.Store(true)
				w.WriteHeader(http.StatusNoContent)
			})
			var got atomic.Int64 // the handler may still run when an aborted upload returns
			f.handle("PUT /containers/helper1/archive", func(w http.ResponseWriter, r *http.Request) {
				if p := r.URL.Query().Get("path"); p != dockerapi.HelperMountPoint {
					t.Errorf("path = %q", p)
				}
				n, err := io.Copy(io.Discard, r.Body)
				got.Store(n)
				if err != nil {
					return // the client aborted the upload
				}
				w.WriteHeader(http.StatusOK)
			})
			err := f.client(t).ImportVolume(context.Background(), "v1", "app:1", bytes.NewReader(tc.in))
			if !removed.Load() {
				t.Error("helper container not removed")
			}
			if lbl, _ := created["Labels"].(map[string]any); lbl[dockerapi.LabelHelper] != "1" || lbl[dockerapi.LabelHelperVolume] != "v1" {
				t.Errorf("helper labels = %v", created["Labels"])
			}
			if tc.ok {
				if err != nil || got.Load() != int64(len(tc.in)) {
					t.Fatalf("ImportVolume = %v (engine got %d of %d bytes)", err, got.Load(), len(tc.in))
				}
				return
			}
			if !errors.Is(err, dockerapi.ErrVolumeImport) || !errors.Is(err, tarcheck.ErrIncomplete) {
				t.Fatalf("err = %v, want ErrVolumeImport wrapping tarcheck.ErrIncomplete", err)
			}
			t.Logf("engine got %d of %d bytes; %v", got.Load(), len(tc.in), err)
		})
	}
}
