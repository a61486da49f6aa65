//go:build integration

package integration_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

// TestS3BackupAndPruneOneBucket: two processes share one bucket's pack
// store, with conditional writes and with the fallback lock forced
// (DOCKPACK_S3_EXCLUSIVE=fallback although versitygw honours
// If-None-Match). While a store backup runs (throttled; it holds the
// store's shared lease), a prune on the other side is refused at once
// naming the holder and deletes nothing; with --lock-wait it waits until
// the backup is done, then keeps that backup's pack (the newest) and
// deletes the two older ones; the new pack then verifies in full from the
// bucket — the prune lost none of the data it references.
func TestS3BackupAndPruneOneBucket(t *testing.T) {
	srv := MustS3(t)
	for _, mode := range []s3.Exclusive{s3.ExclusiveAuto, s3.ExclusiveFallback} {
		t.Run(string(mode), func(t *testing.T) {
			s := rsSmallStack(t)
			bucket := srv.Bucket(t, "shared")
			target := "s3://" + bucket + "/shared"
			env := append(S3Env(srv), s3.EnvExclusive+"="+string(mode))
			b := srv.Backend(t, bucket, "shared")
			old := []string{s3CLIBackup(t, env, s, target, "store"), s3CLIBackup(t, env, s, target, "store")}

			// The backup on one side, throttled to last a few seconds.
			bk := exec.Command(dmBinary(t), "backup", "--project", s.project, "--target", target, "--sqlite", s.db, "--format", "store",
				"--staging-dir", t.TempDir(), "--json", "--log-level", "warn")
			// ~7 MB at 700 kB/s: ~10 s, longer than the fallback's claim
			// (write, wait 3 s, list) takes the prune.
			bk.Env = append(append(os.Environ(), env...), testseams.EnvThrottle+"=700000")
			var bkOut bytes.Buffer
			bk.Stdout, bk.Stderr = &bkOut, &bkOut
			if err := bk.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = bk.Process.Kill() })
			deadline := time.Now().Add(time.Minute)
			for len(s3Keys(t, b, store.LocksPrefix)) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the backup never took the store's lease:\n%s", bkOut.String())
				}
				time.Sleep(20 * time.Millisecond)
			}

			// The prune on the other side: refused at once, then waiting.
			code, out, errb := s3CLI(t, env, "prune", "--target", target, "--project", s.project, "--keep", "1")
			if code == 0 || !strings.Contains(errb, "in use by") {
				t.Fatalf("prune while the backup holds the store: exit %d\n%s%s", code, out, errb)
			}
			t.Logf("prune refused: %s", strings.TrimSpace(errb))
			code, out, errb = s3CLI(t, env, "prune", "--target", target, "--project", s.project, "--keep", "1", "--lock-wait", "2m", "--json")
			if err := bk.Wait(); err != nil {
				t.Fatalf("the backup: %v\n%s", err, bkOut.String())
			}
			var pr struct {
				Deleted []pack.Info `json:"deleted"`
				Kept    []pack.Info `json:"kept"`
			}
			if jerr := json.Unmarshal([]byte(out), &pr); code != 0 || jerr != nil {
				t.Fatalf("prune --lock-wait: exit %d (%v)\n%s%s", code, jerr, out, errb)
			}
			lines := strings.Split(strings.TrimSpace(bkOut.String()), "\n")
			var done struct {
				Pack string `json:"pack"`
			}
			for _, l := range lines {
				if strings.Contains(l, `"event":"done"`) {
					_ = json.Unmarshal([]byte(l), &done)
				}
			}
			if bk.ProcessState.ExitCode() != 0 || done.Pack == "" {
				t.Fatalf("the backup did not finish:\n%s", bkOut.String())
			}
			var deleted []string
			for _, p := range pr.Deleted {
				deleted = append(deleted, target+"/"+p.Name)
			}
			slices.Sort(deleted)
			if !slices.Equal(deleted, old) || len(pr.Kept) != 1 || target+"/"+pr.Kept[0].Name != done.Pack {
				t.Fatalf("prune deleted %v and kept %v; want the older %v deleted and %s kept", deleted, pr.Kept, old, done.Pack)
			}
			// Kept names the backup's pack, whose manifest is its last object:
			// the prune decided only after the backup had finished.
			t.Logf("prune --lock-wait kept %s and deleted %v", done.Pack, deleted)
			if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), done.Pack); code != 0 {
				t.Fatalf("the new pack after the prune: exit %d\n%s%s", code, out, errb)
			}
			var objs []string
			_ = b.List(MustCtx(t), "", func(in storage.Info) error { objs = append(objs, in.Key); return nil })
			for _, o := range objs {
				for _, gone := range old {
					if strings.HasPrefix(o, strings.TrimPrefix(gone, target+"/")+"/") {
						t.Errorf("%s of a pruned pack left", o)
					}
				}
			}
		})
	}
}
