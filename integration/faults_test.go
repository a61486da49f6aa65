//go:build integration

package integration_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

// faultPoints is how many kill points TestFaultsKill injects: 24 in CI
// (`make test`), more with DOCKPACK_FAULT_POINTS (`make faults`: 120).
func faultPoints() int {
	if n, err := strconv.Atoi(os.Getenv("DOCKPACK_FAULT_POINTS")); err == nil && n > 0 {
		return n
	}
	return 24
}

// A kill point: where a dockpack process is killed with SIGKILL.
type killPoint struct {
	driver string  // "cli" (dockpack backup) or "daemon" (dockpack serve)
	hold   string  // a test-seam hold (step, "<step>@start", "committed"), or testseams.HoldBytes
	pick   float64 // HoldBytes: which pack file (a fraction of their count: every step gets its share),
	frac   float64 // and where in it (a fraction of its size),
	offset int64   // or (when not 0) the offset in bytes of the whole stream
}

func (p killPoint) name() string {
	switch {
	case p.hold == testseams.HoldBytes && p.offset > 0:
		return fmt.Sprintf("%s/byte-%d", p.driver, p.offset)
	case p.hold == testseams.HoldBytes:
		return fmt.Sprintf("%s/file-%.2f-at-%.1f%%", p.driver, p.pick, p.frac*100)
	}
	return p.driver + "/" + p.hold
}

// where names the step the point belongs to in the report: a byte
// offset is named by the step whose file holds it.
func (p killPoint) where(t *testing.T, s *fxStack) string {
	if p.hold == testseams.HoldBytes {
		return s.stepAt(t, p.bytes(s.packFiles(t))) + " @offset"
	}
	return strings.TrimSuffix(p.hold, "@start")
}

// bytes is the offset of a HoldBytes point in the stream of files.
func (p killPoint) bytes(files []packFile) int64 {
	if p.offset != 0 || len(files) == 0 {
		return max(1, p.offset)
	}
	i := min(int(p.pick*float64(len(files))), len(files)-1)
	var start int64
	if i > 0 {
		start = files[i-1].end
	}
	return start + max(1, int64(p.frac*float64(files[i].end-start)))
}

// killPoints: every step boundary and inside the streaming steps (holds),
// for both drivers, then random byte offsets within the pack's files.
func killPoints(n int) []killPoint {
	holds := []string{"precheck", "sqlite", "volumes@start", "volumes", "images@start", "images", "compose", "manifest", "finalize", testseams.HoldCommitted}
	var out []killPoint
	for _, h := range holds {
		for _, d := range []string{"cli", "daemon"} {
			out = append(out, killPoint{driver: d, hold: h})
		}
	}
	for i := 0; len(out) < n; i++ {
		d := "cli"
		if i%2 == 1 {
			d = "daemon"
		}
		out = append(out, killPoint{driver: d, hold: testseams.HoldBytes, pick: rand.Float64(), frac: 0.005 + 0.99*rand.Float64()})
	}
	return out[:max(n, 0)]
}

// seamEnv is the environment that makes a process reach point p; files
// are those of a pack of the stack (for a HoldBytes point).
func (p killPoint) seamEnv(holdDir string, files []packFile) []string {
	env := []string{testseams.EnvHoldDir + "=" + holdDir}
	if p.hold == testseams.HoldBytes {
		return append(env, fmt.Sprintf("%s=%d", testseams.EnvHoldBytes, p.bytes(files)))
	}
	step, at, _ := strings.Cut(p.hold, "@")
	env = append(env, testseams.EnvHoldStep+"="+step)
	if at == "start" {
		env = append(env, testseams.EnvHoldAt+"=start")
	}
	return env
}

// heldStep is the marker step of p's hold.
func (p killPoint) heldStep() string {
	step, _, _ := strings.Cut(p.hold, "@")
	return step
}

// killResult is what one point showed.
type killResult struct {
	point      killPoint
	where      string // the step it hit
	before     debris // left by the crash
	after      debris // left after the next run's recovery
	recovered  bool   // the next run recovered unattended and completed
	lockFree   time.Duration
	jobOutcome string
}

// TestFaultsKill kills `dockpack backup` and `dockpack serve` with SIGKILL
// at every step boundary, inside the streaming steps and at random offsets,
// and checks after each: the next run recovers unattended (the daemon at
// its restart, the CLI at its next backup), its lock is free, the killed job
// is failed/interrupted or — killed after its pack was complete — completed,
// no partial pack, owner record, helper or staged database copy is left,
// every stopped container runs, and every migration_pack_* ever present
// verifies. It prints the table `make faults` reports.
func TestFaultsKill(t *testing.T) {
	s := fxNewStack(t)
	state := t.TempDir()
	var results []killResult
	for i, p := range killPoints(faultPoints()) {
		t.Run(fmt.Sprintf("%03d-%s", i, p.name()), func(t *testing.T) {
			var r killResult
			if p.driver == "cli" {
				r = killCLI(t, s, p)
			} else {
				r = killDaemon(t, s, state, p, s.packFiles(t))
			}
			r.point, r.where = p, p.where(t, s)
			if !r.after.empty() {
				t.Errorf("left after recovery: %s", r.after)
			}
			if !r.recovered {
				t.Errorf("the next run did not recover and complete unattended")
			}
			s.verifyAll(t)
			results = append(results, r)
		})
	}
	report := faultTable(results, s)
	t.Log("\n" + report)
	if f := os.Getenv("DOCKPACK_FAULT_REPORT"); f != "" {
		_ = os.WriteFile(f, []byte(report), 0o644)
	}
}

// killCLI runs a CLI backup to point p, kills it, and runs the next backup.
func killCLI(t *testing.T, s *fxStack, p killPoint) killResult {
	holdDir := t.TempDir()
	proc := s.startCLI(t, p.seamEnv(holdDir, s.packFiles(t))...)
	if !waitFile(t, filepath.Join(holdDir, "held-"+p.heldStep()), proc, 60*time.Second) {
		t.Fatalf("the backup did not reach %s:\n%s", p.name(), proc.output())
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

// killDaemon runs a daemon job to point p (byte offsets into files, the
// pack's files in the order the backup streams them), kills the daemon,
// restarts it and runs the next job.
func killDaemon(t *testing.T, s *fxStack, state string, p killPoint, files []packFile) killResult {
	holdDir := t.TempDir()
	opts := dmOpts{stateDir: state, target: s.target, stack: s.dmStack, noSched: true,
		args: []string{"--staging-dir", s.staging, "--stop", "app"}}
	seamed := opts
	seamed.env = p.seamEnv(holdDir, files)
	d := dmStart(t, seamed)
	s.pids = append(s.pids, d.pid())
	all := []string{"db", "volumes", "images"}
	j := d.start(all...)
	d.waitHeld(holdDir, progress.Step(p.heldStep()), j.ID)
	d.kill(syscall.SIGKILL)
	r := killResult{before: s.debrisNow(t)}
	t0 := time.Now()
	d2 := dmStart(t, opts)
	s.pids = append(s.pids, d2.pid())
	dmWait(t, 30*time.Second, "the lock free after the restart", func() bool { return !d2.lock().Held })
	r.lockFree = time.Since(t0)
	got := d2.job(j.ID)
	r.jobOutcome = string(got.Status)
	switch {
	case got.Status == jobs.StatusCompleted:
		dmAssertPack(t, got) // killed after its pack was complete: recorded as the job's
	case got.Status == jobs.StatusFailed && got.ErrorCode != nil && *got.ErrorCode == "interrupted":
	default:
		t.Errorf("the killed job is %s, want failed/interrupted or completed", dmJobString(got))
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

// faultTable renders what `make faults` prints.
func faultTable(rs []killResult, s *fxStack) string {
	type row struct {
		points, recovered, stopped, helpers, partials, staged int
		crashLeft, interrupted, completed                     int
		maxLock                                               time.Duration
	}
	rows := map[string]*row{}
	var order []string
	total := &row{}
	for _, r := range rs {
		w := r.point.driver + " " + r.where
		if rows[w] == nil {
			rows[w] = &row{}
			order = append(order, w)
		}
		for _, x := range []*row{rows[w], total} {
			x.points++
			if r.recovered {
				x.recovered++
			}
			if r.after.stopped {
				x.stopped++
			}
			x.helpers += len(r.after.helpers)
			x.partials += len(r.after.partials)
			x.staged += len(r.after.staged)
			if !r.before.empty() {
				x.crashLeft++
			}
			x.maxLock = max(x.maxLock, r.lockFree)
			switch r.jobOutcome {
			case string(jobs.StatusFailed):
				x.interrupted++
			case string(jobs.StatusCompleted):
				x.completed++
			}
		}
	}
	sort.Strings(order)
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %6s %9s %8s %7s %8s %6s %12s %15s %10s\n", "kill point", "points", "recovered", "stopped", "helpers", "partials", "staged", "crash-debris", "job intr/compl", "lock-free")
	line := func(name string, x *row) {
		lock := "-"
		if x.maxLock > 0 {
			lock = x.maxLock.Round(time.Millisecond).String()
		}
		jobsCol := "-"
		if x.interrupted+x.completed > 0 {
			jobsCol = fmt.Sprintf("%d/%d", x.interrupted, x.completed)
		}
		fmt.Fprintf(&b, "%-24s %6d %9d %8d %7d %8d %6d %12d %15s %10s\n", name, x.points, x.recovered, x.stopped, x.helpers, x.partials, x.staged, x.crashLeft, jobsCol, lock)
	}
	for _, w := range order {
		line(w, rows[w])
	}
	line("TOTAL", total)
	fmt.Fprintf(&b, "bytes written outside the pinned filesystem: 0 (every write goes through the pinned handle; TestFaultsUnmount checks the uncovered directories)\n")
	fmt.Fprintf(&b, "packs verified in full: %d, fake-complete packs: see errors (none when the test passed)\n", len(s.verified))
	fmt.Fprintf(&b, "columns: stopped/helpers/partials/staged = left AFTER the next run's recovery (must be 0); crash-debris = points whose crash left something for recovery to clean; job intr/compl = the killed daemon job found failed/interrupted or completed (its pack was complete) after the restart; lock-free = longest time from the daemon's restart to a free lock\n")
	return b.String()
}
