package restore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/seal"
)

// A sealed pack restores with its identity (images, volumes, database as
// their plaintext); without it, or with another, the restore is refused
// before anything changes — also without verification; a damaged sealed
// file restored without verification fails with ErrPackChanged and leaves
// its volume marked incomplete.
func TestRestoreSealedPack(t *testing.T) {
	ctx := context.Background()
	p, keys, wrong := backuptest.MustSealedPackKeys(t)
	eng := newRsEngine(p)
	for _, tc := range []struct {
		keys       *seal.Keys
		skipVerify bool
		want       error
	}{{nil, false, seal.ErrNoIdentity}, {nil, true, seal.ErrNoIdentity}, {wrong, false, seal.ErrWrongIdentity}, {wrong, true, seal.ErrWrongIdentity}} {
		spec := MustRsSpec(t, eng)
		spec.Keys, spec.SkipVerify = tc.keys, tc.skipVerify
		_, err := restore.Run(ctx, p.Dir, spec)
		if !errors.Is(err, tc.want) || errors.Is(err, restore.ErrFailed) {
			t.Fatalf("keys %v, no-verify %v: %v, want %v before anything changed", tc.keys != nil, tc.skipVerify, err, tc.want)
		}
		if eng.Loads() != 0 || eng.Volume("demo_data") != nil || eng.Volume("shared") != nil {
			t.Fatalf("a refused restore changed the engine: %v", eng.Calls())
		}
		if _, err := os.Stat(spec.SQLiteDest); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a refused restore wrote the database")
		}
	}

	spec := MustRsSpec(t, eng)
	spec.Keys = keys
	res, err := restore.Run(ctx, p.Dir, spec)
	if err != nil {
		t.Fatalf("restore with the identity: %v", err)
	}
	if res.Verify == nil || !res.Verify.OK || eng.Loads() != 1 || len(res.Images) != 1 || !res.Images[0].Checked {
		t.Fatalf("verify %+v, loads %d, images %+v", res.Verify, eng.Loads(), res.Images)
	}
	for _, name := range []string{"demo_data", "shared"} {
		if v := eng.Volume(name); v == nil || !bytes.Equal(v.Content, p.Files["volumes/"+name+".tar"]) {
			t.Fatalf("volume %s differs from the plaintext", name)
		}
	}
	if db, err := os.ReadFile(spec.SQLiteDest); err != nil || !bytes.Equal(db, p.Files["auth.db"]) {
		t.Fatalf("database: %v", err)
	}

	// A flipped byte, restored without verification: the stream fails.
	backuptest.MustFlip(t, p.Path("volumes/shared.tar.age"), -100)
	spec = MustRsSpec(t, eng)
	spec.Keys, spec.SkipVerify, spec.Force, spec.Components = keys, true, true, []pack.Component{pack.ComponentVolumes}
	spec.SQLiteDest = ""
	_, err = restore.Run(ctx, p.Dir, spec)
	if !errors.Is(err, restore.ErrPackChanged) || !eng.Marked("shared") {
		t.Fatalf("restore of a damaged sealed file: %v (shared marked %v)", err, eng.Marked("shared"))
	}
}
