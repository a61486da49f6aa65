package drill_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/drill"
	"github.com/dockpack/dockpack/backup/seal"
)

// A drill of a sealed pack without an identity, or with another, is
// blocked, its report naming the identity (and IdentityHint), nothing
// restored; with the pack's identity it passes: the database restored
// into the drill's folder is the pack's plaintext.
func TestDrillSealedPack(t *testing.T) {
	p, keys, wrong := backuptest.MustSealedPackKeys(t)
	run := func(k *seal.Keys) drill.Drill {
		d := drill.Drill{DrillID: drill.NewID(), JobID: 1, BackupPath: p.Dir, BackupHash: p.Hash}
		drill.Run(context.Background(), &d, drill.Options{Dir: t.TempDir(), StagingDir: t.TempDir(), Keys: k, IdentityHint: "the setting age_identity_file"})
		return d
	}
	for _, tc := range []struct {
		name  string
		keys  *seal.Keys
		words []string
	}{
		{"no identity", nil, []string{"no age identity", "age_identity_file", p.Manifest.Encryption.Recipients[0]}},
		{"another identity", wrong, []string{"matches the recipients", p.Manifest.Encryption.Recipients[0]}},
	} {
		d := run(tc.keys)
		failed := strings.Join(d.VerificationReport.Failed, "; ")
		if d.AcceptanceStatus != drill.Blocked || d.PackageValidationStatus != drill.Blocked || d.RestoredAuthDBPath != nil || d.CompareMatch {
			t.Errorf("%s: acceptance %s validation %s restored %v: %s", tc.name, d.AcceptanceStatus, d.PackageValidationStatus, d.RestoredAuthDBPath, failed)
		}
		for _, w := range tc.words {
			if !strings.Contains(failed, w) {
				t.Errorf("%s: the report %q does not name %q", tc.name, failed, w)
			}
		}
	}
	d := run(keys)
	want := backuptest.Hex(p.Files["auth.db"])
	if d.AcceptanceStatus != drill.Passed || !d.HashMatch || !d.CompareMatch || d.RestoredAuthDBHash == nil || *d.RestoredAuthDBHash != want {
		t.Fatalf("with the identity: acceptance %s hash_match %v compare_match %v restored %v (want sha256 %s): %v",
			d.AcceptanceStatus, d.HashMatch, d.CompareMatch, d.RestoredAuthDBHash, want, d.VerificationReport.Failed)
	}
	if got, err := os.ReadFile(*d.RestoredAuthDBPath); err != nil || !bytes.Equal(got, p.Files["auth.db"]) {
		t.Errorf("the restored database is not the pack's plaintext (%v)", err)
	}
}
