//go:build integration

package integration_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/dockpack/dockpack/backup/transfer"
)

// TestS3CopyStorePack: `dockpack copy` carries store packs (format 2): a
// pack in a bucket's store goes to a local directory (the store's config,
// the bundles it uses, an index of them, then the pack, manifest last)
// and verifies there in full; copied again it is already there; a second
// pack copies only the bundles the destination lacks; the local copy goes
// on to a second bucket and verifies from there.
func TestS3CopyStorePack(t *testing.T) {
	srv := MustS3(t)
	s := rsSmallStack(t)
	env := S3Env(srv)
	src := "s3://" + srv.Bucket(t, "copysrc") + "/site"
	first := s3CLIBackup(t, env, s, src, "store")
	dir := t.TempDir()
	copyJSON := func(from, to string) transfer.Result {
		t.Helper()
		code, out, errb := s3CLI(t, env, "copy", from, "--to", to, "--json")
		var r transfer.Result
		if jerr := json.Unmarshal([]byte(out), &r); code != 0 || jerr != nil {
			t.Fatalf("dockpack copy %s --to %s: exit %d (%v)\n%s%s", from, to, code, jerr, out, errb)
		}
		return r
	}
	r := copyJSON(first, dir)
	t.Logf("first copy: %+v", r)
	if r.Bundles == 0 || r.Copied == 0 {
		t.Fatalf("the first copy carried no bundle: %+v", r)
	}
	name := filepath.Base(first)
	if code, out, errb := s3CLI(t, env, "verify", filepath.Join(dir, name)); code != 0 {
		t.Fatalf("verify of the local copy: exit %d\n%s%s", code, out, errb)
	}
	if r := copyJSON(first, dir); !r.AlreadyThere {
		t.Fatalf("copied again: %+v", r)
	}
	second := s3CLIBackup(t, env, s, src, "store")
	r2 := copyJSON(second, dir)
	t.Logf("second copy: %+v", r2)
	if r2.BundleBytes >= r.BundleBytes {
		t.Errorf("the second copy sent %d bundle bytes, the first %d: the destination's store was not reused", r2.BundleBytes, r.BundleBytes)
	}
	dst := "s3://" + srv.Bucket(t, "copydst") + "/off-site"
	copyJSON(filepath.Join(dir, name), dst)
	if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), dst+"/"+name); code != 0 {
		t.Fatalf("verify of the off-site copy: exit %d\n%s%s", code, out, errb)
	}
}
