//go:build integration

package integration_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
)

// Two daemons share one state DB (and target):
//  1. while A runs (its volume written, held before its manifest step) and
//     renews its lease, B is busy with A's job id — for longer than a lease;
//  2. with A frozen (SIGSTOP) past its lease, B takes over; its recovery
//     fails A's job (interrupted) and removes A's partial dir;
//  3. A, resumed while B writes its pack, finds its lease lost and aborts
//     its job without touching B's files: B's backup completes;
//  4. with A killed on the same host, the takeover is immediate (A's lease
//     is long), and the recovery starts the container A had stopped.
//
// A is frozen between steps, not inside its volume export: the engine keeps
// a container locked while it streams its archive, so a frozen exporter
// would block B's precheck (container inspect) until A resumed.
func TestDaemonTwoProcessesShareTheLock(t *testing.T) {
	const lease = 2 * time.Second
	s := dmNewStack(t, 1536<<10)
	target := MustTmpfs(t, 256<<20)
	state, holdA := t.TempDir(), t.TempDir()
	common := []string{"--lease-duration", lease.String(), "--stop-all=false"}
	a := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true, args: common,
		env: []string{"DOCKPACK_TEST_HOLD_STEP=manifest", "DOCKPACK_TEST_HOLD_DIR=" + holdA}})
	b := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true, args: common,
		env: []string{"DOCKPACK_TEST_THROTTLE_BPS=524288"}})
	startB := func(components ...string) (int, map[string]any) {
		code, body := b.do("POST", "/v1/backups", dmComponents(components))
		return code, dmJSON(t, body)
	}

	// 1. A runs (held before its manifest) and renews: B is busy.
	a1 := a.start("volumes")
	a.waitHeld(holdA, progress.StepManifest, a1.ID)
	_, partialsA := TargetDirs(t, target)
	if len(partialsA) != 1 {
		t.Fatalf("partial dirs while A runs: %v", partialsA)
	}
	busy := 0
	for until := time.Now().Add(2 * lease); time.Now().Before(until); busy++ {
		code, m := startB("volumes")
		if code != 409 || m["job_id"] != float64(a1.ID) {
			t.Fatalf("B's start while A renews: %d %v, want 409 with job_id %d", code, m, a1.ID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("phase 1: B answered busy (job %d) %d times over %v = 2 leases", a1.ID, busy, 2*lease)

	// 2. A frozen past its lease: B takes over.
	a.kill(syscall.SIGSTOP)
	t.Cleanup(func() { a.kill(syscall.SIGCONT) })
	frozen := time.Now()
	var b1 jobs.Job
	dmWait(t, 4*lease+10*time.Second, "B takes over A's expired lease", func() bool {
		code, body := b.do("POST", "/v1/backups", dmComponents([]string{"volumes"}))
		switch code {
		case 202:
			json.Unmarshal(body, &b1)
			return true
		case 409:
			return false
		}
		t.Fatalf("B's start: %d %s", code, body)
		return false
	})
	t.Logf("phase 2: B took over %v after A froze (lease %v), job %d", time.Since(frozen).Round(time.Millisecond), lease, b1.ID)
	// The takeover's recovery (it may finish just after the start answered).
	ja := b.waitJob(a1.ID, 10*time.Second, "recovered", func(j jobs.Job) bool { return !j.Status.Active() })
	if ja.Status != jobs.StatusFailed || ja.ErrorCode == nil || *ja.ErrorCode != "interrupted" {
		t.Errorf("A's job after the takeover: %s, want failed/interrupted", dmJobString(ja))
	}
	dmWait(t, 10*time.Second, "A's partial dir removed by the takeover's recovery", func() bool {
		_, err := os.Stat(filepath.Join(target, partialsA[0]))
		return os.IsNotExist(err)
	})
	if li := b.lock(); !li.Held || li.JobID != b1.ID || li.PID != b.pid() {
		t.Errorf("lock after takeover: %+v, want B's job %d", li, b1.ID)
	}

	// 3. A resumes, finds its lease lost, aborts — and B's backup completes.
	dmWait(t, 30*time.Second, "B's job writing its volume", func() bool {
		j := b.job(b1.ID)
		if !j.Status.Active() {
			t.Fatalf("B's job ended before A resumed: %s", dmJobString(j))
		}
		return j.Step != nil && *j.Step == string(progress.StepVolumes) && j.BytesDone > 0
	})
	_, partialsB := TargetDirs(t, target)
	a.kill(syscall.SIGCONT)
	resumed := time.Now()
	dmWait(t, 15*time.Second, "A noticing its lost lease", func() bool { return dmSawLeaseLost(a, a1.ID, frozen) })
	t.Logf("phase 3: A noticed the lost lease of job %d within %v of resuming; B's partial dirs then: %v", a1.ID, time.Since(resumed).Round(time.Millisecond), partialsB)
	if j := b.job(b1.ID); j.Status != jobs.StatusRunning {
		t.Errorf("B's job after A's abort: %s, want still running", dmJobString(j))
	}
	if _, p := TargetDirs(t, target); !slices.Equal(p, partialsB) {
		t.Errorf("partial dirs changed by A's abort: %v → %v", partialsB, p)
	}
	done := b.waitEnded(b1.ID, 60*time.Second)
	dmAssertPack(t, done)
	if ja := a.job(a1.ID); ja.Status != jobs.StatusFailed {
		t.Errorf("A's job at the end: %s", dmJobString(ja))
	}
	if code, _ := a.do("GET", "/healthz", ""); code != 200 {
		t.Errorf("A unhealthy after its abort: %d", code)
	}

	// 4. A killed on this host: B takes over at once, long lease or not.
	a.kill(syscall.SIGKILL)
	holdA2 := t.TempDir()
	a2 := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true,
		args: []string{"--lease-duration", "5m", "--stop-all"},
		env:  []string{"DOCKPACK_TEST_HOLD_STEP=volumes", "DOCKPACK_TEST_HOLD_DIR=" + holdA2}})
	j2 := a2.start("volumes")
	a2.waitHeld(holdA2, progress.StepVolumes, j2.ID)
	if s.runningByList(t) {
		t.Fatal("A2 did not stop the container")
	}
	_, partialsA2 := TargetDirs(t, target)
	a2.kill(syscall.SIGKILL)
	t0 := time.Now()
	code, m := startB("db") // no volume step: B itself stops nothing
	took := time.Since(t0)
	if code != 202 {
		t.Fatalf("B's start right after A2 was killed: %d %v, want 202 (A2's 5m lease must not matter)", code, m)
	}
	t.Logf("phase 4: B took over from killed A2 in %v (A2's lease 5m)", took.Round(time.Millisecond))
	ja2 := b.waitJob(j2.ID, 10*time.Second, "recovered", func(j jobs.Job) bool { return !j.Status.Active() })
	if ja2.Status != jobs.StatusFailed || ja2.ErrorCode == nil || *ja2.ErrorCode != "interrupted" {
		t.Errorf("A2's job after the takeover: %s, want failed/interrupted", dmJobString(ja2))
	}
	dmWait(t, 30*time.Second, "the container A2 stopped running again", func() bool { return s.running(t) })
	dmWait(t, 10*time.Second, "A2's partial dir removed by the takeover's recovery", func() bool {
		for _, p := range partialsA2 {
			if _, err := os.Stat(filepath.Join(target, p)); !os.IsNotExist(err) {
				return false
			}
		}
		return true
	})
	b2 := b.waitEnded(int64(m["id"].(float64)), 60*time.Second)
	dmAssertPack(t, b2)
	dmAssertClean(t, target, s)
}

// dmSawLeaseLost reports whether d logged the loss of job id's lease
// after since.
func dmSawLeaseLost(d *dmDaemon, id int64, since time.Time) bool {
	for _, l := range d.logLines() {
		ts, _ := l["time"].(string)
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
		if l["job_id"] != float64(id) || err != nil || at.Before(since) {
			continue
		}
		if strings.Contains(fmt.Sprint(l["msg"], l["error"], l["reason"], l["code"]), "lease") {
			return true
		}
	}
	return false
}
