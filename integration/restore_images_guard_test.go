//go:build integration

package integration_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
)

// TestRestoreImagesTampered: a classic pack's images.tar changed on the
// target is not loaded as it is, also without the verification before the
// restore (--no-verify), on the real engine — the restore streams it
// without hashing it whole (imagesGuard) and relies on the engine's own
// check of every layer:
//   - a byte flipped in a layer: the engine refuses that layer (invalid
//     diffID), the restore fails as ErrPackChanged (ErrLayerMismatch) and
//     that image is not tagged;
//   - a changed image config, or a tag manifest.json adds: the restore
//     fails before the engine has the archive's end — no image of the pack
//     is loaded, the added tag does not exist;
//
// a restore canceled at random offsets before the archive's end loads
// nothing; the untouched file restores every tag with its config digest;
// and a
// store pack whose layer chunk has a flipped byte (its chunks are not
// hashed on the way to the engine) fails as ErrPackChanged
// (ErrLayerMismatch) without that image.
func TestRestoreImagesTampered(t *testing.T) {
	s := siNewStack(t, 2<<20, 256<<20)
	spec := s.spec(t, s.eng)
	spec.Format = backup.FormatClassic
	res, err := backup.Run(MustCtx(t), spec, nil)
	if err != nil {
		t.Fatalf("classic backup: %v", err)
	}
	stored := s.backup(t)
	for _, c := range s.ctrs {
		forceRemove(t, s, c)
	}
	path := filepath.Join(res.Pack, pack.ImagesFile)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := tarContent(t, orig)
	other := strings.Replace(s.refs[1], "-b:1", "-x:1", 1)
	cases := []struct {
		name   string
		change func(b []byte)
		loaded bool // the engine loads the images before the changed one
	}{
		{"layer byte flipped", func(b []byte) {
			i := bytes.Index(b, siRandom(s.project+"b", 64))
			if i < 0 {
				t.Fatal("b.bin's bytes are not in images.tar")
			}
			b[i+1000] ^= 0x20
		}, true},
		{"config changed", func(b []byte) {
			name := strings.TrimPrefix(s.ids[0], "sha256:") + ".json"
			i := bytes.Index(b[at[name]:], []byte(`"created":"`))
			if i < 0 {
				t.Fatalf("no created time in %s", name)
			}
			b[at[name]+int64(i)+11] = '1' // 2026 → 1026
		}, false},
		{"tag added", func(b []byte) {
			i := bytes.Index(b[at["manifest.json"]:], []byte(s.refs[1]))
			if i < 0 {
				t.Fatalf("no %s in manifest.json", s.refs[1])
			}
			copy(b[at["manifest.json"]+int64(i):], other)
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.removeImages(t, res.Manifest)
			changed := bytes.Clone(orig)
			c.change(changed)
			if err := os.WriteFile(path, changed, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(path, orig, 0o600) })
			_, err := restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: s.eng.Client, Components: []pack.Component{pack.ComponentImages},
				SkipVerify: true, StagingDir: t.TempDir()})
			if !errors.Is(err, restore.ErrPackChanged) || !strings.Contains(err.Error(), pack.ImagesFile) {
				t.Fatalf("restore of the changed images.tar: %v", err)
			}
			t.Logf("refused: %v", err)
			if c.loaded != errors.Is(err, dockerapi.ErrLayerMismatch) {
				t.Errorf("the engine's layer check is said: %v", errors.Is(err, dockerapi.ErrLayerMismatch))
			}
			for i, im := range res.Manifest.Images {
				for _, tag := range im.RepoTags {
					d, err := s.eng.ImageConfigDigest(MustCtx(t), tag)
					switch {
					case errors.Is(err, dockerapi.ErrImageNotFound):
					case err != nil:
						t.Fatal(err)
					case !c.loaded:
						t.Errorf("%s loaded (%s) from an archive the restore refused before its end", tag, d)
					case d != im.ConfigDigest:
						t.Errorf("%s is %s, not the pack's %s", tag, d, im.ConfigDigest)
					case im.ConfigDigest == s.ids[1]:
						t.Errorf("%s (image %d), whose layer was flipped, is on the engine", tag, i)
					}
				}
			}
			if _, err := s.eng.ImageConfigDigest(MustCtx(t), other); !errors.Is(err, dockerapi.ErrImageNotFound) {
				t.Errorf("the tag manifest.json added: %v", err)
			}
		})
	}
	// Canceled at random offsets before the archive's end: the upload is
	// aborted, the restore says so, nothing of the pack is loaded.
	for i := range 3 {
		off := rand.Int64N(int64(len(orig)) - 16<<10)
		t.Run(fmt.Sprintf("canceled at byte %d", off), func(t *testing.T) {
			s.removeImages(t, res.Manifest)
			ctx, cancel := context.WithCancel(MustCtx(t))
			defer cancel()
			_, err := restore.Run(ctx, res.Pack, restore.Spec{Engine: s.eng.Client, Components: []pack.Component{pack.ComponentImages},
				SkipVerify: true, StagingDir: t.TempDir(), Hooks: restore.Hooks{WrapReader: func(_ progress.Step, _ string, r io.Reader) io.Reader {
					return &cancelAt{r: r, at: off, cancel: cancel}
				}}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("restore canceled at byte %d (round %d): %v", off, i, err)
			}
			for _, im := range res.Manifest.Images {
				if _, err := s.eng.ImageConfigDigest(MustCtx(t), im.ConfigDigest); !errors.Is(err, dockerapi.ErrImageNotFound) {
					t.Errorf("image %s after a restore canceled before the archive's end: %v", im.ConfigDigest, err)
				}
			}
		})
	}

	s.removeImages(t, res.Manifest)
	rr, err := restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: s.eng.Client, Components: []pack.Component{pack.ComponentImages},
		SkipVerify: true, StagingDir: t.TempDir()})
	if err != nil {
		t.Fatalf("restore of the untouched images.tar: %v", err)
	}
	for _, im := range rr.Images {
		if !im.Checked {
			t.Errorf("%s not checked by its config digest", im.Ref)
		}
	}
	if len(rr.Images) != 2 {
		t.Fatalf("restored images: %+v", rr.Images)
	}

	// The store pack: a byte flipped in the chunk of b's layer (its chunks
	// are not hashed on the way to the engine, which checks the layer).
	t.Run("store layer byte flipped", func(t *testing.T) {
		s.removeImages(t, stored.Manifest)
		mark := siRandom(s.project+"b", 64)
		var flipped string
		bundles := stBundles(t, s.target)
		for b := range bundles {
			data, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			if i := bytes.Index(data, mark); i >= 0 {
				orig := bytes.Clone(data)
				data[i+1000] ^= 0x20
				if err := os.WriteFile(b, data, 0o600); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.WriteFile(b, orig, 0o600) })
				flipped = b
				break
			}
		}
		if flipped == "" {
			t.Fatalf("b.bin's bytes are in none of the %d bundles", len(bundles))
		}
		_, err := restore.Run(MustCtx(t), stored.Pack, restore.Spec{Engine: s.eng.Client, Components: []pack.Component{pack.ComponentImages},
			SkipVerify: true, StagingDir: t.TempDir()})
		if !errors.Is(err, restore.ErrPackChanged) || !errors.Is(err, dockerapi.ErrLayerMismatch) {
			t.Fatalf("restore of the store pack with a flipped layer chunk (%s): %v", flipped, err)
		}
		t.Logf("refused: %v", err)
		if _, err := s.eng.ImageConfigDigest(MustCtx(t), s.refs[1]); !errors.Is(err, dockerapi.ErrImageNotFound) {
			t.Errorf("%s, whose layer was flipped, is on the engine: %v", s.refs[1], err)
		}
	})
}

// cancelAt passes r through until at bytes have passed, then cancels and
// fails the read.
type cancelAt struct {
	r      io.Reader
	at, n  int64
	cancel func()
}

func (c *cancelAt) Read(p []byte) (int, error) {
	if c.n >= c.at {
		c.cancel()
		return 0, context.Canceled
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.at-c.n)])
	c.n += int64(n)
	return n, err
}

// tarContent maps each member of an archive to the offset of its content.
func tarContent(t *testing.T, b []byte) map[string]int64 {
	t.Helper()
	at := map[string]int64{}
	br := bytes.NewReader(b)
	tr := tar.NewReader(br)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return at
		}
		if err != nil {
			t.Fatal(err)
		}
		at[h.Name] = int64(len(b) - br.Len())
	}
}
