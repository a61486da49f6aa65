//go:build integration

package integration_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/pack"
)

// TestS3SealedPacksListed: a sealed pack copied into a bucket
// (dockpack copy) is listed by `dockpack packs --target s3://… --json` with
// its encryption (age, its recipient), and doctor's encryption check runs
// on the s3:// target: identity_missing naming the recipient without an
// identity (or with another one), ok with the identity that opens it.
func TestS3SealedPacksListed(t *testing.T) {
	srv := MustS3(t)
	env := S3Env(srv)
	keys, other := backuptest.MustAgeKeys(t), backuptest.MustAgeKeys(t)
	dir := t.TempDir()
	p := backuptest.MustSealedPack(t, dir, keys.Recipient)
	target := "s3://" + srv.Bucket(t, "sealed") + "/site-a"
	if code, out, errb := s3CLI(t, env, "copy", p.Dir, "--to", target); code != 0 {
		t.Fatalf("dockpack copy to the bucket: exit %d\n%s%s", code, out, errb)
	}

	code, out, errb := s3CLI(t, env, "packs", "--target", target, "--json")
	var listed struct {
		Packs []pack.Info `json:"packs"`
	}
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed.Packs) != 1 {
		t.Fatalf("dockpack packs --json: exit %d, %v\n%s%s", code, err, out, errb)
	}
	got := listed.Packs[0]
	if got.Name != filepath.Base(p.Dir) || got.Encryption == nil || got.Encryption.Scheme != pack.SchemeAge ||
		!slices.Equal(got.Encryption.Recipients, []string{keys.Recipient}) {
		t.Errorf("packs lists %s with encryption %+v, want age to %s\n%s", got.Name, got.Encryption, keys.Recipient, out)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		status check.Status
		code   string
		exit   int
	}{
		{"no identity", nil, check.Warn, "identity_missing", 6},
		{"another identity", []string{"--age-identity", other.IdentityFile}, check.Warn, "identity_missing", 6},
		{"its identity", []string{"--age-identity", keys.IdentityFile}, check.OK, "ok", 0},
	} {
		rep, exit := opDoctor(t, env, append([]string{"--target", target, "--no-images", "--no-volumes"}, tc.args...)...)
		c, ok := rep.Check(doctor.CheckEncryption)
		if !ok || c.Status != tc.status || c.Code != tc.code {
			t.Errorf("%s: encryption check %s %s, want %s %s:\n%s", tc.name, c.Status, c.Code, tc.status, tc.code, opDump(rep))
			continue
		}
		if opEvidence(c, "sealed_packs") != "1" {
			t.Errorf("%s: sealed_packs evidence %q, want 1", tc.name, opEvidence(c, "sealed_packs"))
		}
		if tc.status == check.Warn && !strings.Contains(c.Summary, keys.Recipient) {
			t.Errorf("%s: the warning does not name the recipient %s: %s", tc.name, keys.Recipient, c.Summary)
		}
		if strings.Contains(opDump(rep), keys.Secret) {
			t.Errorf("%s: the report holds the secret key", tc.name)
		}
		if tc.exit == 0 && exit != 0 {
			t.Logf("%s: doctor exit %d (another check):\n%s", tc.name, exit, opDump(rep))
		}
	}
}
