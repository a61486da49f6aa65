package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/store"
)

// A store backup writes a format-2 pack that verifies (structural and
// full); a second one of the unchanged stack adds no data.
func TestRunStoreFormat(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	spec := backuptest.MustSpec(t, eng)
	spec.Format = backup.FormatStore
	first, err := backup.Run(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := pack.ReadManifest(ctx, first.Pack)
	if err != nil || !m.IsStore() || m.Store == nil || m.Store.NewRawBytes == 0 {
		t.Fatalf("first store pack: %v %+v", err, m)
	}
	for _, f := range m.Files {
		if _, err := os.Stat(filepath.Join(first.Pack, f.Path)); !os.IsNotExist(err) {
			t.Errorf("%s is in the pack directory of a store pack", f.Path)
		}
	}
	if vr, err := pack.Verify(ctx, first.Pack, pack.VerifyOptions{Structural: true, ReadDataSubset: 1}); err != nil {
		t.Fatalf("verify: %v %+v", err, vr)
	}
	// Every file reads back from its chunks with its sha256 (the fake
	// engine's volumes are not tars: a full verify is the integration tests').
	d, err := pack.OpenDir(ctx, first.Pack, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, f := range m.Files {
		rc, err := d.OpenFile(ctx, m, f)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil || n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			t.Fatalf("%s read back: %d bytes, %v", f.Path, n, err)
		}
	}
	spec.Now = nil
	second, err := backup.Run(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := second.Store.Total(); st.NewRawBytes != 0 || st.ReusedRawBytes == 0 {
		t.Fatalf("second backup of an unchanged stack stored %+v", st)
	}
	packs, _ := pack.List(ctx, spec.Target)
	if len(packs) != 2 || packs[0].Format != pack.FormatStore || packs[0].Added != 0 || packs[1].Added == 0 {
		t.Fatalf("packs: %+v", packs)
	}
	if _, err := os.Stat(filepath.Join(spec.Target, store.LocksPrefix)); err == nil {
		ents, _ := os.ReadDir(filepath.Join(spec.Target, store.LocksPrefix))
		if len(ents) != 0 {
			t.Fatalf("leases left: %v", ents)
		}
	}
	// A newer format is refused, never read.
	raw, _ := os.ReadFile(filepath.Join(second.Pack, pack.ManifestFile))
	bumped := []byte(replaceOnce(string(raw), `"format_version": 2`, `"format_version": 3`))
	if _, err := pack.ParseManifest(bumped); !errors.Is(err, pack.ErrNewerFormat) {
		t.Fatalf("a format-3 manifest: %v", err)
	}
	unknown := []byte(replaceOnce(string(raw), `"kind": "volume"`, `"kind": "hologram"`))
	if _, err := pack.ParseManifest(unknown); !errors.Is(err, pack.ErrNewerFormat) {
		t.Fatalf("an unknown kind: %v", err)
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}
