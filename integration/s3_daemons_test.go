//go:build integration

package integration_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

// TestS3TwoDaemonsOneBucket: two `dockpack serve` processes, each with its
// own state dir and stack, share one bucket's pack store (store format,
// backup_retention_max 1), with conditional writes and with the fallback
// lock forced (DOCKPACK_S3_EXCLUSIVE=fallback). While daemon A's backup
// runs (throttled; it holds the store's shared lease), daemon B completes
// a backup and its retention prune is refused, naming the holder — the
// backup on B succeeds and nothing of B's is deleted. When A is done, a
// third job on B prunes (its older packs deleted, the store collected);
// every remaining pack then verifies in full from the bucket: the prune
// lost no data any pack references.
func TestS3TwoDaemonsOneBucket(t *testing.T) {
	srv := MustS3(t)
	for _, mode := range []s3.Exclusive{s3.ExclusiveAuto, s3.ExclusiveFallback} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel() // the two modes' wall time is the fallback's (~60 s)
			start := time.Now()
			bucket := srv.Bucket(t, "two")
			target := "s3://" + bucket + "/shared"
			b := srv.Backend(t, bucket, "shared")
			env := append(S3Env(srv), s3.EnvExclusive+"="+string(mode))
			sa, sb := dmNewStack(t, 3<<19), dmNewStack(t, 64<<10)
			args := []string{"--pack-format", "store", "--backup-retention-max", "1"}
			a := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: sa, args: args,
				env: append(slices.Clone(env), testseams.EnvThrottle+"=200000"), noSched: true})
			d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: sb, args: args, env: env, noSched: true})

			b1 := s3DaemonJob(t, d, d.start("db", "volumes").ID)

			// A's backup, throttled (~1.5 MiB at 200 kB/s): holds the store's shared lease.
			ja := a.start("db", "volumes")
			dmWait(t, time.Minute, "A's backup holds the store's shared lease", func() bool {
				for _, k := range s3Keys(t, b, store.LocksPrefix) {
					if strings.HasPrefix(k, store.LocksPrefix+"shared-") {
						return true
					}
				}
				return false
			})
			// B's second backup completes; its retention prune wants the
			// store's exclusive lease and is refused, naming A's backup.
			b2 := s3DaemonJob(t, d, d.start("db", "volumes").ID)
			if a.job(ja.ID).Status != jobs.StatusRunning {
				t.Fatalf("A's backup ended before B's retention ran (no contention): %s", dmJobString(a.job(ja.ID)))
			}
			refusal := s3JobLog(d, b2.ID, "in use by")
			if refusal == "" {
				t.Fatalf("B's retention while A's backup holds the store: no refusal naming the holder in job %d's log", b2.ID)
			}
			t.Logf("B's retention refused: %s", refusal)
			if got := s3PackNames(t, b); !slices.Contains(got, s3PackName(target, b1)) {
				t.Fatalf("B's first pack deleted while A held the store: %v", got)
			}

			j := s3DaemonJob(t, a, ja.ID)
			pa := s3PackName(target, j)
			// A's retention (one pack of its project): nothing to delete, but it
			// took the store's exclusive lease after its own backup — no refusal.
			if r := s3JobLog(a, ja.ID, "in use by"); r != "" {
				t.Errorf("A's retention refused after its backup: %s", r)
			}

			// B again, A done: its retention deletes B's two older packs and collects the store.
			b3 := s3DaemonJob(t, d, d.start("db", "volumes").ID)
			if r := s3JobLog(d, b3.ID, "in use by"); r != "" {
				t.Fatalf("B's retention refused with A done: %s", r)
			}
			got := s3PackNames(t, b)
			want := []string{pa, s3PackName(target, b3)}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("packs after B's retention: %v, want %v", got, want)
			}
			if keys := s3Keys(t, b, store.LocksPrefix); len(keys) != 0 {
				t.Errorf("leases left: %v", keys)
			}
			for _, p := range got {
				if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), target+"/"+p); code != 0 {
					t.Fatalf("verify %s after the prunes: exit %d\n%s%s", p, code, out, errb)
				}
			}
			t.Logf("%s: packs %v verify in full (%.1f s)", mode, got, time.Since(start).Seconds())
		})
	}
}

// s3DaemonJob waits for job id to end and asks that it completed with an s3 pack.
func s3DaemonJob(t *testing.T, d *dmDaemon, id int64) jobs.Job {
	t.Helper()
	t0 := time.Now()
	j := d.waitEnded(id, 2*time.Minute)
	t.Logf("job %d ended after %.1f s waiting", id, time.Since(t0).Seconds())
	if j.Status != jobs.StatusCompleted || j.OutputDir == nil || !strings.HasPrefix(*j.OutputDir, "s3://") {
		t.Fatalf("job %s", dmJobString(j))
	}
	return j
}

func s3PackName(target string, j jobs.Job) string {
	return strings.TrimPrefix(*j.OutputDir, target+"/")
}

// s3PackNames lists the complete packs in the bucket, sorted.
func s3PackNames(t *testing.T, b storage.Backend) []string {
	t.Helper()
	packs, err := transfer.List(MustCtx(t), b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range packs {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// s3JobLog returns the first line of the daemon's log of job id containing sub, or "".
func s3JobLog(d *dmDaemon, id int64, sub string) string {
	for _, l := range d.logLines() {
		if l["job_id"] != float64(id) {
			continue
		}
		s := fmt.Sprint(l["msg"])
		if e, ok := l["error"]; ok {
			s += fmt.Sprint(" ", e)
		}
		if strings.Contains(s, sub) {
			return s
		}
	}
	return ""
}

// TestS3DaemonCopyTarget: a daemon whose target is one bucket and whose
// copy_target is another copies each completed pack there (store format:
// the pack and the bundles it uses); the job's log says so and the copy
// verifies in full from the second bucket.
func TestS3DaemonCopyTarget(t *testing.T) {
	srv := MustS3(t)
	s := dmNewStack(t, 256<<10)
	target := "s3://" + srv.Bucket(t, "main") + "/site"
	second := "s3://" + srv.Bucket(t, "offsite") + "/copy"
	env := S3Env(srv)
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s, env: env, noSched: true,
		args: []string{"--pack-format", "store", "--copy-target", second}})
	j := s3DaemonJob(t, d, d.start("db", "volumes").ID)
	name := s3PackName(target, j)
	line := s3JobLog(d, j.ID, "copied "+name)
	if line == "" {
		t.Fatalf("job %d's log has no copy to %s", j.ID, second)
	}
	t.Logf("job log: %s", line)
	if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), second+"/"+name); code != 0 {
		t.Fatalf("verify the copy %s/%s: exit %d\n%s%s", second, name, code, out, errb)
	}
}
