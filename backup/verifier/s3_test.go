package verifier_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/backup/verifier"
)

// TestVerifyS3Pack: a background verification of a pack in object storage
// (the target setting s3://bucket/prefix, on versitygw) fetches it into
// the staging directory, verifies every file there (the verdict and the
// bytes as for a directory's pack), and removes the copy; a byte flipped
// in the bucket fails the verification naming the file, nothing left in
// staging.
func TestVerifyS3Pack(t *testing.T) {
	srv := s3test.Start(t)
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": srv.Access, "AWS_SECRET_ACCESS_KEY": srv.Secret,
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": ""} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bucket := srv.Bucket(t, "verify")
	s := backuptest.Settings(t)
	p := backuptest.MustPack(t, s.TargetLocalDir, time.Now().Add(-time.Hour))
	name := filepath.Base(p.Dir)
	src, err := local.Open(ctx, local.Options{Dir: s.TargetLocalDir, Owner: "verifytest"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	remote := srv.Backend(t, bucket, "site-a")
	if _, err := transfer.Copy(ctx, src, remote, transfer.Options{Pack: name}); err != nil {
		t.Fatal(err)
	}
	s.TargetLocalDir, s.S3Endpoint = "s3://"+bucket+"/site-a", srv.Endpoint
	staging := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{Settings: s, StagingDir: staging})
	vf := verifier.New(m)

	v, err := vf.Start(ctx, verifier.Request{Pack: name})
	if err != nil {
		t.Fatal(err)
	}
	if v.Path != s.TargetLocalDir+"/"+name {
		t.Errorf("path %q, want the pack's s3:// location", v.Path)
	}
	seen := mustVerifyEnd(t, vf, v.ID)
	end := seen[len(seen)-1]
	if end.Status != jobs.StatusCompleted || end.OK == nil || !*end.OK || end.Result == nil || !end.Result.OK ||
		end.BytesDone < p.Manifest.PackSize() {
		t.Fatalf("ended %+v (bytes %d, pack %d)", end, end.BytesDone, p.Manifest.PackSize())
	}
	mustLockFree(t, m)
	mustEmpty(t, staging)

	// A byte flipped in the bucket.
	key := name + "/volumes/shared.tar"
	data := bytes.Clone(p.Files["volumes/shared.tar"])
	data[600] ^= 0xff
	if _, err := storage.WriteObject(ctx, remote, key, bytes.NewReader(data), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err = vf.Start(ctx, verifier.Request{Pack: name})
	if err != nil {
		t.Fatal(err)
	}
	seen = mustVerifyEnd(t, vf, v.ID)
	end = seen[len(seen)-1]
	if end.Status != jobs.StatusFailed || end.OK == nil || *end.OK || end.ErrorCode == nil || *end.ErrorCode != verifier.CodeFailed ||
		end.Result == nil || len(end.Result.Failed()) != 1 || !strings.Contains(end.Result.Failed()[0].Detail, "volumes/shared.tar") {
		t.Fatalf("damaged in the bucket: ended %+v", end)
	}
	t.Logf("damaged in the bucket: %s %s: %s", end.Status, *end.ErrorCode, end.Result.Failed()[0].Detail)
	mustLockFree(t, m)
	mustEmpty(t, staging)
}

func mustEmpty(t *testing.T, dir string) {
	t.Helper()
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("staging %s holds %v (%v), want nothing", dir, entries, err)
	}
}
