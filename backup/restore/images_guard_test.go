package restore_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
)

// completeTar says whether archive/tar reads b to its end-of-archive.
func completeTar(b []byte) bool {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return false
		}
	}
}

// retar rewrites an archive: the member named from renamed to, or (to
// "") made a symlink.
func retar(t *testing.T, b []byte, from, to string) []byte {
	t.Helper()
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(b)), tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Name == from && to != "" {
			h.Name = to
		} else if h.Name == from {
			h.Typeflag, h.Linkname, h.Size, body = tar.TypeSymlink, "manifest.json", 0, nil
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

// TestRestoreImagesGuard: into an engine that checks layers, a classic
// pack's images.tar streams through the guard — untouched it loads as it
// is; a changed config, a tag manifest.json adds, a missing manifest.json
// or a cut file fail as ErrPackChanged naming what differs, and the engine
// never receives a complete archive (nothing is loaded). Without the
// verification first, the manifest's checksum does not stop it before.
func TestRestoreImagesGuard(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	orig := p.Files["images.tar"]
	eng := newRsEngine(p)
	eng.ChecksLayers = true
	spec := MustRsSpec(t, eng)
	spec.Components = []pack.Component{pack.ComponentImages}
	spec.SkipVerify = true
	if _, err := restore.Run(context.Background(), p.Dir, spec); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !bytes.Equal(eng.LastLoad(), orig) {
		t.Fatalf("the engine received %d bytes, not images.tar's %d", len(eng.LastLoad()), len(orig))
	}
	cfgHex := strings.TrimPrefix(p.Digest, "sha256:")
	cases := map[string]struct {
		change func([]byte) []byte
		want   string
	}{
		"config changed": {func(b []byte) []byte { return bytes.Replace(b, []byte(`"os":"linux"`), []byte(`"os":"linuX"`), 1) },
			"which is no image of the pack"},
		"tag added": {func(b []byte) []byte { return bytes.Replace(b, []byte(`"demo/app:1"`), []byte(`"demo/app:9"`), 1) },
			`as "demo/app:9", a tag the pack does not record`},
		"config renamed": {func(b []byte) []byte { return bytes.Replace(b, []byte(`"`+cfgHex[:8]), []byte(`"00000000`), 1) },
			"is not a file of the archive"},
		"no manifest.json": {func(b []byte) []byte { return retar(t, b, "manifest.json", "manifest.jsom") }, "no manifest.json"},
		"cut short":        {func(b []byte) []byte { return b[:len(b)-1024-512] }, "cut short"},
		"longer":           {func(b []byte) []byte { return append(b, make([]byte, 512)...) }, "longer than"},
		"much longer":      {func(b []byte) []byte { return append(b, make([]byte, 1<<20)...) }, "longer than"},
		"config a symlink": {func(b []byte) []byte { return retar(t, b, cfgHex+".json", "") }, "is not a file of the archive"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			changed := c.change(bytes.Clone(orig))
			if err := os.WriteFile(p.Path("images.tar"), changed, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(p.Path("images.tar"), orig, 0o600) })
			eng := newRsEngine(p)
			eng.ChecksLayers = true
			spec := spec
			spec.Engine = eng
			_, err := restore.Run(context.Background(), p.Dir, spec)
			if !errors.Is(err, restore.ErrPackChanged) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "images.tar") {
				t.Fatalf("err = %v, want ErrPackChanged saying %q", err, c.want)
			}
			if eng.Loads() != 0 || completeTar(eng.LastLoad()) {
				t.Fatalf("the engine loaded (%d) or received a complete archive (%d bytes)", eng.Loads(), len(eng.LastLoad()))
			}
		})
	}
	// An engine whose load does not check layers (the containerd store)
	// gets images.tar checked against its whole sha256: a changed layer
	// fails there too.
	layer := bytes.Replace(orig, []byte("app\napp\n"), []byte("app\napq\n"), 1)
	if err := os.WriteFile(p.Path("images.tar"), layer, 0o600); err != nil {
		t.Fatal(err)
	}
	eng = newRsEngine(p)
	spec.Engine = eng
	if _, err := restore.Run(context.Background(), p.Dir, spec); !errors.Is(err, restore.ErrPackChanged) || !strings.Contains(err.Error(), "expected sha256") {
		t.Fatalf("containerd store, changed layer: %v", err)
	}
}
