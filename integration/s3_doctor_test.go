//go:build integration

package integration_test

import (
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/store"
)

// TestDoctorS3: doctor on an s3:// target — "is this the target I expect"
// for object storage. Healthy: the target check writes, reads back and
// deletes a probe object; packs lists the store pack written there; the
// store check reads the bucket's store (config, leases, index against the
// bundles, the pack's chunks). A bundle removed from the bucket fails the
// store check naming it; a bucket that does not exist and refused
// credentials fail the target check with their own codes, before harm.
func TestDoctorS3(t *testing.T) {
	srv := MustS3(t)
	s := rsSmallStack(t)
	bucket := srv.Bucket(t, "doc")
	target := "s3://" + bucket + "/p"
	env := S3Env(srv)
	loc := s3CLIBackup(t, env, s, target, "store")
	t.Logf("pack %s", loc)

	rep, exit := opDoctor(t, env, "--target", target, "--no-images", "--no-volumes")
	c := opExpect(t, rep, exit, doctor.CheckTarget, check.OK, "ok", exit)
	if got := opEvidence(c, "write_probe"); !strings.HasPrefix(got, "ok") {
		t.Errorf("write probe evidence %q:\n%s", got, opDump(rep))
	}
	opExpect(t, rep, exit, doctor.CheckPacks, check.OK, "ok", exit)
	opExpect(t, rep, exit, doctor.CheckStore, check.OK, "ok", exit)
	c, _ = rep.Check(doctor.CheckStore)
	if opEvidence(c, "store_packs") != "1" || opEvidence(c, "store_id") == "" {
		t.Errorf("store evidence:\n%s", opDump(rep))
	}

	// A bundle goes missing from the bucket.
	b := srv.Backend(t, bucket, "p")
	var bundle string
	_ = b.List(MustCtx(t), store.DataPrefix, func(in storage.Info) error { bundle = in.Key; return nil })
	if bundle == "" {
		t.Fatal("no bundle in the bucket")
	}
	if err := b.Remove(MustCtx(t), bundle); err != nil {
		t.Fatal(err)
	}
	rep, exit = opDoctor(t, env, "--target", target, "--no-images", "--no-volumes")
	c = opExpect(t, rep, exit, doctor.CheckStore, check.Fail, "store_damaged", exit)
	if exit == 0 || !strings.Contains(c.Detail, bundle[strings.LastIndexByte(bundle, '/')+1:]) {
		t.Errorf("exit %d, the store check does not name the missing bundle %s:\n%s", exit, bundle, opDump(rep))
	}

	// No such bucket; refused credentials.
	rep, exit = opDoctor(t, env, "--target", "s3://no-such-bucket-dockpack/p", "--no-images", "--no-volumes")
	opExpect(t, rep, exit, doctor.CheckTarget, check.Fail, "target_no_bucket", exit)
	if exit == 0 {
		t.Errorf("doctor on a missing bucket exits 0")
	}
	rep, exit = opDoctor(t, append(env, "AWS_SECRET_ACCESS_KEY=wrong-secret"), "--target", target, "--no-images", "--no-volumes")
	c = opExpect(t, rep, exit, doctor.CheckTarget, check.Fail, "target_access_denied", exit)
	if exit == 0 || strings.Contains(opDump(rep), "wrong-secret") || strings.Contains(opDump(rep), srv.Secret) {
		t.Errorf("exit %d; a secret in the report?\n%s", exit, opDump(rep))
	}
	t.Logf("refused credentials: %s | %s", c.Summary, c.Detail)

	// plan shows the same before anything is written.
	if code, out, errb := s3CLI(t, env, "plan", "--project", s.project, "--target", target, "--no-images"); code != 0 {
		t.Errorf("dockpack plan on the bucket: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, env, "plan", "--project", s.project, "--target", "s3://no-such-bucket-dockpack/p", "--no-images"); code != 3 ||
		!strings.Contains(out+errb, "does not exist") {
		t.Errorf("dockpack plan on a missing bucket: exit %d\n%s%s", code, out, errb)
	}
}
