package restore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// The real restore of the live database from a sealed pack: without an
// identity, or with another, refused before anything is recorded, stopped
// or kept (the refusal naming IdentityHint); with the pack's identity the
// live database becomes the pack's plaintext, checked against the
// decrypted copy (the manifest holds the ciphertext's sha256).
func TestLiveSealedPack(t *testing.T) {
	p, keys, wrong := backuptest.MustSealedPackKeys(t)
	live := backuptest.MustSQLite(t, t.TempDir(), "auth.db", "zed")
	before, _ := os.ReadFile(live)
	eng := backuptest.NewRunningEngine()
	spec := func(k *seal.Keys) restore.LiveSpec {
		return restore.LiveSpec{Pack: p.Dir, PackageHash: p.Hash, JobID: 7, Live: live, Engine: eng, Keys: k,
			IdentityHint: "the setting age_identity_file",
			Stop:         restore.StopList{Project: "demo", Services: []string{"app"}}, StagingDir: t.TempDir()}
	}
	for _, tc := range []struct {
		name string
		keys *seal.Keys
		want error
		code string
	}{
		{"no identity", nil, seal.ErrNoIdentity, "age_identity_missing"},
		{"another identity", wrong, seal.ErrWrongIdentity, "age_identity_wrong"},
	} {
		recorded := false
		s := spec(tc.keys)
		s.Record = func(context.Context, restore.LiveChecked) error { recorded = true; return nil }
		_, err := restore.Live(context.Background(), s)
		var le *restore.LiveError
		if !errors.As(err, &le) || le.Code != tc.code || !errors.Is(err, tc.want) || le.Conflict {
			t.Fatalf("%s: %v, want a LiveError %s wrapping %v (400)", tc.name, err, tc.code, tc.want)
		}
		if tc.keys == nil && !strings.Contains(err.Error(), "age_identity_file") {
			t.Errorf("%s: %q does not name the setting", tc.name, err)
		}
		if after, _ := os.ReadFile(live); recorded || !bytes.Equal(before, after) {
			t.Errorf("%s: recorded %v, live database changed %v", tc.name, recorded, !bytes.Equal(before, after))
		}
		if kept, _ := filepath.Glob(live + sqlitesnap.BeforeRestoreSuffix + "*"); len(kept) != 0 {
			t.Errorf("%s: kept copies %v", tc.name, kept)
		}
	}
	res, err := restore.Live(context.Background(), spec(keys))
	if err != nil {
		t.Fatal(err)
	}
	want := backuptest.Hex(p.Files["auth.db"])
	if res.DBSHA256 != want || res.SHA256 != want || res.Kept == "" || !res.Restarted {
		t.Errorf("restore: DBSHA256 %s SHA256 %s kept %q restarted %v; want the plaintext's %s", res.DBSHA256, res.SHA256, res.Kept, res.Restarted, want)
	}
}
