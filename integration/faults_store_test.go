//go:build integration

package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
	"github.com/dockpack/dockpack/internal/owner"
)

// TestFaultsStoreKill kills a store backup (`dockpack backup` with
// DOCKPACK_PACK_FORMAT=store) with SIGKILL at every step boundary and
// inside the streaming steps, and a prune at several instants of its
// deletions and garbage collection; after each: the next run recovers
// unattended and completes, nothing is left behind (partials, owner
// records, helpers, staged copies, uploads of the dead writer), and every
// pack in the target verifies in full (no pack references missing data).
func TestFaultsStoreKill(t *testing.T) {
	s := fxNewStack(t)
	storeEnv := []string{"DOCKPACK_PACK_FORMAT=store"}
	for _, h := range stHolds {
		t.Run("cli/"+h, func(t *testing.T) {
			p := killPoint{driver: "cli", hold: h}
			holdDir := t.TempDir()
			proc := s.startCLI(t, append(storeEnv, p.seamEnv(holdDir, nil)...)...)
			if !waitFile(t, filepath.Join(holdDir, "held-"+p.heldStep()), proc, 60*time.Second) {
				t.Fatalf("the store backup did not reach %s:\n%s", h, proc.output())
			}
			proc.kill9()
			next := s.startCLI(t, storeEnv...)
			if code := next.wait(t, 3*time.Minute); code != 0 {
				t.Fatalf("the next store backup exited %d:\n%s", code, next.output())
			}
			if d := s.debrisNow(t); !d.empty() {
				t.Errorf("left after recovery: %s", d)
			}
			if up := stUploads(s.target); len(up) > 0 {
				t.Errorf("uploads of the dead writer left in the store: %v", up)
			}
			s.verifyAll(t)
		})
	}
	for i, delay := range stPruneDelays {
		t.Run("prune/"+delay.String(), func(t *testing.T) {
			args := []string{"prune", "--target", s.target, "--project", s.project, "--keep", "1", "--lock-wait", "30s"}
			// A prune of a few packs takes milliseconds: on a loaded
			// machine the poller may miss its lease; such a prune simply
			// completed, and the point is tried again (at most 3 times).
			for attempt := 1; ; attempt++ {
				for j := 0; j < 2; j++ { // something to prune
					if code := s.startCLI(t, storeEnv...).wait(t, 3*time.Minute); code != 0 {
						t.Fatalf("backup %d exited %d", j, code)
					}
				}
				proc := s.startCmd(t, args...)
				if stKillInPrune(s.target, delay, proc.done, proc.kill9) {
					break
				}
				if attempt == 3 {
					t.Errorf("3 prunes ended before their exclusive lease was seen: not killed during prune:\n%s", proc.output())
					break
				}
				t.Logf("attempt %d: the prune ended before its exclusive lease was seen; again", attempt)
			}
			if code, out, errOut := rsCLI(t, args...); code != 0 {
				t.Fatalf("the next prune (after kill %d) exited %d:\n%s%s", i, code, out, errOut)
			}
			s.verified = map[string]bool{}
			s.verifyAll(t)
			if code := s.startCLI(t, storeEnv...).wait(t, 3*time.Minute); code != 0 {
				t.Fatal("the next backup after a killed prune failed")
			}
			s.verifyAll(t)
		})
	}
}

// stHolds are the step holds of a store backup. "images" (inside the
// images step, after its first byte) comes first: only a backup of images
// the store lacks streams them (later ones reuse their configs and layers).
var stHolds = []string{"images", "precheck", "sqlite", "volumes@start", "volumes", "images@start", "compose", "manifest", "finalize", testseams.HoldCommitted}

// stPruneDelays: a prune is killed this long after its exclusive lease
// appeared in the store (it decides, deletes packs, then collects).
var stPruneDelays = []time.Duration{0, 10 * time.Millisecond, 40 * time.Millisecond, 120 * time.Millisecond}

// stKillInPrune waits for a prune's exclusive lease in target's store
// (polling every millisecond until done is closed), waits delay and
// calls kill; false when the process ended before the lease was seen.
func stKillInPrune(target string, delay time.Duration, done <-chan struct{}, kill func()) bool {
	locks := filepath.Join(target, filepath.FromSlash(store.LocksPrefix))
	for {
		ents, _ := os.ReadDir(locks)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "exclusive") {
				time.Sleep(delay)
				kill()
				return true
			}
		}
		select {
		case <-done:
			return false
		case <-time.After(time.Millisecond):
		}
	}
}

// stUploads lists the temporary uploads in a target's store.
func stUploads(target string) []string {
	var out []string
	filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), local.TempPrefix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// startCmd starts dockpack with args (not a backup: prune, verify).
func (s *fxStack) startCmd(t *testing.T, args ...string) *fxProc {
	t.Helper()
	cmd := exec.Command(dmBinary(t), args...)
	p := &fxProc{cmd: cmd, out: &strings.Builder{}, done: make(chan struct{})}
	w := &lockedWriter{mu: &p.mu, w: p.out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.pids = append(s.pids, cmd.Process.Pid)
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}

// storeOffsets is how many random byte offsets of a store backup's
// streams TestFaultsStoreDaemon kills at: 4 in CI, a quarter of
// DOCKPACK_FAULT_POINTS with `make faults` (30).
func storeOffsets() int {
	if n, err := strconv.Atoi(os.Getenv("DOCKPACK_FAULT_POINTS")); err == nil && n > 0 {
		return max(4, n/4)
	}
	return 4
}

// TestFaultsStoreDaemon kills `dockpack serve` running a store backup
// (pack_format store) with SIGKILL at every step boundary and inside the
// streaming steps, then the CLI and the daemon at random byte offsets of
// the store backup's streams (the seam DOCKPACK_TEST_HOLD_BYTES counts the
// bytes flowing into the store). The store has 64 KiB bundles, so a
// backup commits a bundle after every chunk and the offsets fall between
// bundle commits, before the index, the chunk lists and the manifest.
// After each point: the killed daemon job is failed/interrupted (or
// completed, its pack complete), the next backup completes, nothing is left
// behind, every pack verifies in full (no pack references missing data),
// then a prune (--keep 2) works and leaves exactly the blobs the remaining
// packs use, which verify again.
func TestFaultsStoreDaemon(t *testing.T) {
	t.Setenv("DOCKPACK_PACK_FORMAT", "store") // the daemons and CLIs started below inherit it
	s := fxNewStack(t)
	stSmallBundles(t, s.target, 64<<10)
	state := t.TempDir()
	var points []killPoint
	for _, h := range stHolds {
		points = append(points, killPoint{driver: "daemon", hold: h})
	}
	for i := 0; i < storeOffsets(); i++ {
		d := []string{"cli", "daemon"}[i%2]
		points = append(points, killPoint{driver: d, hold: testseams.HoldBytes, pick: rand.Float64(), frac: 0.005 + 0.99*rand.Float64()})
	}
	for _, delay := range stPruneDelays {
		points = append(points, killPoint{driver: "daemon", hold: "prune", offset: int64(delay)})
	}
	var results []killResult
	t0 := time.Now()
	for i, p := range points {
		name := p.name()
		if p.hold == "prune" {
			name = "daemon/prune+" + time.Duration(p.offset).String()
		}
		t.Run(fmt.Sprintf("%02d-%s", i, name), func(t *testing.T) {
			var files []packFile
			where := strings.TrimSuffix(p.hold, "@start")
			if p.hold == testseams.HoldBytes {
				files = stPackFiles(t, s)
				where = stStepAt(files, p.bytes(files)) + " @offset"
			}
			var r killResult
			switch {
			case p.hold == "prune":
				r = stKillDaemonPrune(t, s, state, time.Duration(p.offset))
			case p.driver == "cli":
				r = stKillCLI(t, s, p, files)
			default:
				r = killDaemon(t, s, state, p, files)
			}
			r.point, r.where = p, where
			if !r.after.empty() {
				t.Errorf("left after recovery: %s", r.after)
			}
			if !r.recovered {
				t.Errorf("the next store backup did not recover and complete unattended")
			}
			if up := stUploads(s.target); len(up) > 0 {
				t.Errorf("uploads of the dead writer left in the store: %v", up)
			}
			s.verifyAll(t)
			stPruneAndCheck(t, s)
			results = append(results, r)
		})
	}
	t.Logf("%d points in %v\n%s", len(points), time.Since(t0).Round(time.Second), faultTable(results, s))
}

// stSmallBundles creates the target's store with small bundles.
func stSmallBundles(t *testing.T, target string, size int64) {
	t.Helper()
	ctx := context.Background()
	b, err := local.Open(ctx, local.Options{Dir: target, Owner: owner.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := store.Open(ctx, b, store.Options{Create: true, BundleSize: size})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// stPackFiles are the files of the newest pack of the stack that a store
// backup streams, in the order it streamed them (a store pack's chunk
// lists are written as each file ends), made by a plain backup when the
// target holds no pack yet. Images' configs and layers are left out: the
// next backup finds them in the store and streams none of them.
func stPackFiles(t *testing.T, s *fxStack) []packFile {
	t.Helper()
	packs, _ := TargetDirs(t, s.target)
	if len(packs) == 0 {
		if code := s.startCLI(t).wait(t, 3*time.Minute); code != 0 {
			t.Fatalf("a plain store backup of the stack exited %d", code)
		}
		packs, _ = TargetDirs(t, s.target)
	}
	sort.Strings(packs)
	dir := filepath.Join(s.target, packs[len(packs)-1])
	m, _, err := pack.ReadManifest(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	files := slices.Clone(m.Files)
	mtime := map[string]time.Time{}
	for _, f := range files {
		p := f.Path
		if m.IsStore() {
			p = pack.ChunkListPath(f.Path)
		}
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		mtime[f.Path] = fi.ModTime()
	}
	sort.SliceStable(files, func(i, j int) bool { return mtime[files[i].Path].Before(mtime[files[j].Path]) })
	var out []packFile
	var n int64
	for _, f := range files {
		if f.Kind == pack.FileImageConfig || f.Kind == pack.FileImageLayer {
			continue
		}
		n += f.Size
		out = append(out, packFile{kind: string(f.Kind), end: n})
	}
	return out
}

// stStepAt names the step whose file holds byte offset n of the stream.
func stStepAt(files []packFile, n int64) string {
	steps := map[string]string{"sqlite": "sqlite", "volume": "volumes", "images": "images", "compose": "compose"}
	for _, f := range files {
		if n < f.end {
			if st, ok := steps[f.kind]; ok {
				return st
			}
			return f.kind
		}
	}
	return "manifest"
}

// stKillCLI runs a CLI store backup to point p, kills it, and runs the next one.
func stKillCLI(t *testing.T, s *fxStack, p killPoint, files []packFile) killResult {
	holdDir := t.TempDir()
	proc := s.startCLI(t, p.seamEnv(holdDir, files)...)
	if !waitFile(t, filepath.Join(holdDir, "held-"+p.heldStep()), proc, 60*time.Second) {
		t.Fatalf("the store backup did not reach %s:\n%s", p.name(), proc.output())
	}
	proc.kill9()
	r := killResult{before: s.debrisNow(t)}
	next := s.startCLI(t)
	r.recovered = next.wait(t, 3*time.Minute) == 0
	if !r.recovered {
		t.Logf("next backup:\n%s", next.output())
	}
	r.after = s.debrisNow(t)
	return r
}

// stKillDaemonPrune kills the daemon while the retention after a store
// backup prunes (backup_retention_max 2: each job's retention drops a pack
// and collects the store), delay after its exclusive lease appeared; then
// restarts it and runs the next job (whose retention prunes again).
func stKillDaemonPrune(t *testing.T, s *fxStack, state string, delay time.Duration) killResult {
	opts := dmOpts{stateDir: state, target: s.target, stack: s.dmStack, noSched: true,
		args: []string{"--staging-dir", s.staging, "--stop", "app"}}
	d := dmStart(t, opts)
	s.pids = append(s.pids, d.pid())
	if code, b := d.do("PUT", "/api/admin/data-security/settings", `{"backup_retention_max": 2, "change_reason": "faults: prune after each job"}`); code != 200 {
		t.Fatalf("PUT retention: %d %s", code, b)
	}
	all := []string{"db", "volumes", "images"}
	for len(stCompletePacks(t, s)) < 2 { // the job's retention has a pack to drop
		if j := d.waitEnded(d.start(all...).ID, 3*time.Minute); j.Status != jobs.StatusCompleted {
			t.Fatalf("a store backup before the prune point: %s", dmJobString(j))
		}
	}
	// A prune of this small store may be over before the lease is seen:
	// the next job prunes again (up to 5 tries).
	var j jobs.Job
	killed := false
	for try := 0; try < 5 && !killed; try++ {
		j = d.start(all...)
		jobDone := make(chan struct{})
		go func() {
			defer close(jobDone)
			for {
				select {
				case <-d.exited:
					return
				case <-time.After(20 * time.Millisecond):
				}
				var got jobs.Job
				if code, b, err := d.try("GET", "/v1/jobs/"+dmItoa(j.ID), ""); err == nil && code == 200 &&
					json.Unmarshal(b, &got) == nil && got.Status != "" && !got.Status.Active() {
					return
				}
			}
		}()
		killed = stKillInPrune(s.target, delay, jobDone, func() { d.kill(syscall.SIGKILL) })
		<-jobDone
	}
	if !killed {
		t.Errorf("5 jobs ended before their retention's exclusive lease was seen: not killed during prune")
		d.kill(syscall.SIGKILL)
	}
	r := killResult{before: s.debrisNow(t)}
	t0 := time.Now()
	d2 := dmStart(t, opts)
	s.pids = append(s.pids, d2.pid())
	dmWait(t, 30*time.Second, "the lock free after the restart", func() bool { return !d2.lock().Held })
	r.lockFree = time.Since(t0)
	got := d2.job(j.ID)
	r.jobOutcome = string(got.Status)
	if got.Status != jobs.StatusCompleted && (got.Status != jobs.StatusFailed || got.ErrorCode == nil || *got.ErrorCode != "interrupted") {
		t.Errorf("the job killed in its retention is %s, want completed or failed/interrupted", dmJobString(got))
	}
	next := d2.waitEnded(d2.start(all...).ID, 3*time.Minute)
	r.recovered = next.Status == jobs.StatusCompleted
	if !r.recovered {
		t.Logf("next job: %s", dmJobString(next))
	}
	d2.kill(syscall.SIGTERM)
	d2.waitExit(30 * time.Second)
	r.after = s.debrisNow(t)
	return r
}

// stCompletePacks are the complete packs in the stack's target.
func stCompletePacks(t *testing.T, s *fxStack) []string {
	t.Helper()
	ps, err := pack.List(context.Background(), s.target)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		if p.Status == pack.StatusComplete {
			out = append(out, p.Name)
		}
	}
	return out
}

// stPruneAndCheck prunes the stack's packs to the newest two and checks
// the store: nothing damaged, no bundle without index (the dead writers'
// debris is gone), exactly the blobs the remaining packs use, and every
// remaining pack verifies in full again (garbage collection may have
// repacked its blobs).
func stPruneAndCheck(t *testing.T, s *fxStack) {
	t.Helper()
	if code, out, errOut := rsCLI(t, "prune", "--target", s.target, "--project", s.project, "--keep", "2", "--lock-wait", "30s"); code != 0 {
		t.Fatalf("the next prune exited %d:\n%s%s", code, out, errOut)
	}
	ctx := context.Background()
	packs, _ := TargetDirs(t, s.target)
	used := map[store.ID]bool{}
	for _, p := range packs {
		u, err := pack.UsedBlobs(ctx, filepath.Join(s.target, p))
		if err != nil {
			t.Fatal(err)
		}
		for id := range u {
			used[id] = true
		}
	}
	b, err := local.Open(ctx, local.Options{Dir: s.target})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := store.Open(ctx, b, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cr, err := st.Check(ctx, store.CheckOptions{})
	if err != nil || len(cr.Damaged) > 0 || cr.Unindexed > 0 || cr.Blobs != len(used) {
		t.Errorf("after prune the store holds %d blobs (%d damaged, %d unindexed bundles), the %d remaining packs use %d: %v",
			cr.Blobs, len(cr.Damaged), cr.Unindexed, len(packs), len(used), err)
	}
	s.verified = map[string]bool{}
	s.verifyAll(t)
}
