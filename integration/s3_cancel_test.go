//go:build integration

package integration_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

// TestS3BackupInterrupted: a backup to s3:// interrupted while a pack
// file is half uploaded (a multipart upload in progress, the test seam
// holding it after 6 MiB with 5 MiB parts; a store pack's bundle at that
// point may still be below a part, compressed), for both formats. SIGINT:
// the backup exits 130 and leaves nothing — no object of the pack, no
// owner record, no multipart upload. kill -9: the owner record and the
// upload stay (the process had no chance); the next backup's recovery
// removes the dead writer's partial pack and record and aborts its
// uploads, and the target then holds exactly the new pack.
func TestS3BackupInterrupted(t *testing.T) {
	srv := MustS3(t)
	for _, format := range []string{"classic", "store"} {
		t.Run(format, func(t *testing.T) {
			s := rsSmallStack(t)
			ctx := MustCtx(t)
			bucket := srv.Bucket(t, "int-"+format)
			target := "s3://" + bucket + "/p"
			b := srv.Backend(t, bucket, "p")
			for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
				code := s3HeldBackup(t, S3Env(srv), s, target, format, sig, b)
				objs := s3Keys(t, b, pack.NamePrefix)
				recs := s3Keys(t, b, ".dockpack/partials/")
				n, err := b.Uploads(ctx)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s after %v: exit %d, pack objects %v, owner records %v, uploads %d", format, sig, code, objs, recs, n)
				if sig == syscall.SIGINT {
					if code != 130 || len(objs) != 0 || len(recs) != 0 || n != 0 {
						t.Fatalf("a canceled backup left: exit %d, objects %v, records %v, uploads %d", code, objs, recs, n)
					}
					continue
				}
				if len(recs) != 1 || (n == 0 && format == "classic") {
					t.Fatalf("kill -9: expected the dead writer's record and upload, got records %v, uploads %d", recs, n)
				}
			}
			// The next backup recovers the dead writer's debris.
			loc := s3CLIBackup(t, S3Env(srv), s, target, format)
			name := loc[len(target)+1:]
			if n, err := b.Uploads(ctx); err != nil || n != 0 {
				t.Fatalf("uploads after the recovery: %d %v", n, err)
			}
			if recs := s3Keys(t, b, ".dockpack/partials/"); len(recs) != 0 {
				t.Fatalf("owner records after the recovery: %v", recs)
			}
			for _, k := range s3Keys(t, b, pack.NamePrefix) {
				if !strings.HasPrefix(k, name+"/") {
					t.Fatalf("%s left beside the new pack %s", k, name)
				}
			}
		})
	}
}

// s3HeldBackup starts a backup that holds once 6 MiB of its pack are
// written, waits for the hold, checks an upload is in progress, sends sig
// and returns the exit code.
func s3HeldBackup(t *testing.T, env []string, s *rsStack, target, format string, sig syscall.Signal, b *s3.Backend) int {
	t.Helper()
	hold := t.TempDir()
	cmd := exec.Command(dmBinary(t), "backup", "--project", s.project, "--target", target, "--sqlite", s.db, "--format", format,
		"--staging-dir", t.TempDir(), "--s3-part-size", "5", "--json", "--log-level", "warn")
	cmd.Env = append(append(os.Environ(), env...), testseams.EnvHoldBytes+"="+strconv.Itoa(6<<20), testseams.EnvHoldDir+"="+hold)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	marker := filepath.Join(hold, "held-"+testseams.HoldBytes)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the backup never reached the hold:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, err := b.Uploads(MustCtx(t)); err != nil || (n == 0 && format == "classic") {
		t.Fatalf("no multipart upload in progress at the hold: %d %v\n%s", n, err, out.String())
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("backup after %v: %v\n%s", sig, err, out.String())
	}
	if sig == syscall.SIGKILL {
		return -1
	}
	return ee.ExitCode()
}

// s3Keys lists the keys under prefix.
func s3Keys(t testing.TB, b storage.Backend, prefix string) []string {
	t.Helper()
	var out []string
	if err := b.List(MustCtx(t), prefix, func(in storage.Info) error { out = append(out, in.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
