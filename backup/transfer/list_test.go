package transfer_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
	"github.com/dockpack/dockpack/backup/transfer"
)

// TestListSealedS3: a sealed pack copied into a bucket is listed with its
// manifest's encryption section (scheme, recipients), as pack.List lists
// it in a directory; a plaintext pack has none.
func TestListSealedS3(t *testing.T) {
	srv := s3test.Start(t)
	keys := backuptest.MustAgeKeys(t)
	srcDir := t.TempDir()
	p := backuptest.MustSealedPack(t, srcDir, keys.Recipient)
	plainDir := t.TempDir()
	plain := backuptest.MustPack(t, plainDir, backuptest.Created.Add(1e9))
	remote := srv.Backend(t, srv.Bucket(t, "list"), "site-a")
	for dir, pk := range map[string]*backuptest.Pack{srcDir: p, plainDir: plain} {
		if _, err := transfer.Copy(ctx(t), openLocal(t, dir), remote, transfer.Options{Pack: filepath.Base(pk.Dir)}); err != nil {
			t.Fatal(err)
		}
	}

	packs, err := transfer.List(ctx(t), remote)
	if err != nil {
		t.Fatal(err)
	}
	local, err := pack.List(ctx(t), srcDir)
	if err != nil || len(local) != 1 || local[0].Encryption == nil {
		t.Fatalf("pack.List of the sealed pack's directory: %+v, %v", local, err)
	}
	if len(packs) != 2 {
		t.Fatalf("listed %d packs, want 2: %+v", len(packs), packs)
	}
	for _, pi := range packs {
		switch pi.Name {
		case filepath.Base(p.Dir):
			e := pi.Encryption
			if e == nil || e.Scheme != pack.SchemeAge || !slices.Equal(e.Recipients, []string{keys.Recipient}) ||
				!slices.Equal(e.Recipients, local[0].Encryption.Recipients) {
				t.Errorf("sealed pack listed with encryption %+v, want age to %s", e, keys.Recipient)
			}
		case filepath.Base(plain.Dir):
			if pi.Encryption != nil {
				t.Errorf("plaintext pack listed with encryption %+v", pi.Encryption)
			}
		default:
			t.Errorf("unexpected pack %s", pi.Name)
		}
	}
}
