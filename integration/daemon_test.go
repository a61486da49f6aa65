//go:build integration

package integration_test

import (
	"encoding/json"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
)

// 200 concurrent start requests (half native, half RagFlowAuth's) while
// nothing runs: exactly one job is created; every other native start is 409
// with the holder's id, and every RagFlowAuth start answers 200 with that
// job's id (RagFlowAuth's newest backend answers a busy start with the
// running job, which its page then polls).
func TestDaemonConcurrentStartsOneWinner(t *testing.T) {
	s := dmNewStack(t, 64<<10)
	target := MustTmpfs(t, 64<<20)
	hold := t.TempDir()
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s, noSched: true,
		env: []string{"DOCKPACK_TEST_HOLD_STEP=precheck", "DOCKPACK_TEST_HOLD_DIR=" + hold}})

	const n = 200
	type answer struct {
		code   int
		body   []byte
		err    error
		compat bool
	}
	answers := make([]answer, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			a := answer{compat: i%2 == 1}
			if a.compat {
				a.code, a.body, a.err = d.try("POST", "/api/admin/data-security/backup/run", "{}")
			} else {
				a.code, a.body, a.err = d.try("POST", "/v1/backups", `{"components": ["volumes"]}`)
			}
			answers[i] = a
		}()
	}
	t0 := time.Now()
	close(gate)
	wg.Wait()
	t.Logf("%d concurrent start requests answered in %v", n, time.Since(t0).Round(time.Millisecond))

	code, b := d.do("GET", "/v1/jobs?limit=200", "")
	list, _ := dmJSON(t, b)["jobs"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("jobs after the race: %d %s (want exactly one job)", code, b)
	}
	winner := int64(list[0].(map[string]any)["id"].(float64))
	busy, compatOK := 0, 0
	for _, a := range answers {
		if a.err != nil {
			t.Fatalf("request failed: %v", a.err)
		}
		m := dmJSON(t, a.body)
		switch {
		case a.compat:
			if a.code != 200 || m["job_id"] != float64(winner) || len(m) != 1 {
				t.Errorf("compat answer %d %s, want 200 {\"job_id\": %d}", a.code, a.body, winner)
			}
			compatOK++
		case a.code == 202:
			var j jobs.Job
			json.Unmarshal(a.body, &j)
			if j.ID != winner {
				t.Errorf("native start accepted job %d, the one job is %d", j.ID, winner)
			}
		case a.code == 409 && m["job_id"] == float64(winner) && m["error"] == "backup_job_already_running":
			busy++
		default:
			t.Errorf("native answer %d %s, want 409 with job_id %d", a.code, a.body, winner)
		}
	}
	t.Logf("one job (%d); %d native starts busy with the holder's id, %d RagFlowAuth starts answered with it", winner, busy, compatOK)

	// The winner is the one running; cancel it and the lock is free again.
	d.waitHeld(hold, progress.StepPrecheck, winner)
	if li := d.lock(); !li.Held || li.JobID != winner {
		t.Errorf("lock %+v, want held by job %d", li, winner)
	}
	if code, b := d.do("POST", "/v1/jobs/"+dmItoa(winner)+"/cancel", `{"reason": "test"}`); code != 200 {
		t.Fatalf("cancel: %d %s", code, b)
	}
	j := d.waitEnded(winner, 15*time.Second)
	if j.Status != jobs.StatusCanceled {
		t.Errorf("job after cancel: %s", dmJobString(j))
	}
	dmWait(t, 10*time.Second, "lock released", func() bool { return !d.lock().Held })
	dmAssertClean(t, target, s)
	if code, b := d.do("GET", "/v1/jobs?limit=200", ""); code != 200 || len(dmJSON(t, b)["jobs"].([]any)) != 1 {
		t.Errorf("jobs after the race: %d %s (want exactly one job)", code, b)
	}
}

// kill -9 of a daemon mid-backup (services stopped, a pack half written),
// then a restart: the job is failed/interrupted, the lock is free, no
// partial dir is left, the stopped container runs, and the next backup
// succeeds with no manual step.
func TestDaemonKill9MidBackupThenRestart(t *testing.T) {
	s := dmNewStack(t, 256<<10)
	target := MustTmpfs(t, 256<<20)
	state, hold := t.TempDir(), t.TempDir()
	opts := dmOpts{stateDir: state, target: target, stack: s, noSched: true, args: []string{"--stop-all"}}
	held := opts
	held.env = []string{"DOCKPACK_TEST_HOLD_STEP=volumes", "DOCKPACK_TEST_HOLD_DIR=" + hold}
	d := dmStart(t, held)
	j := d.start("db", "volumes", "images")
	d.waitHeld(hold, progress.StepVolumes, j.ID)
	if s.runningByList(t) {
		t.Fatal("the app container runs during the volume step; the test needs it stopped")
	}
	if _, partials := TargetDirs(t, target); len(partials) != 1 {
		t.Fatalf("partial dirs mid-backup: %v, want 1", partials)
	}
	d.kill(syscall.SIGKILL)
	t.Logf("killed dockpack serve (pid %d) with job %d in the volume step", d.pid(), j.ID)

	t0 := time.Now()
	d2 := dmStart(t, opts)
	t.Logf("restarted in %v", time.Since(t0).Round(time.Millisecond))
	got := d2.job(j.ID)
	if got.Status != jobs.StatusFailed || got.ErrorCode == nil || *got.ErrorCode != "interrupted" {
		t.Errorf("killed job after restart: %s, want failed/interrupted", dmJobString(got))
	}
	if li := d2.lock(); li.Held {
		t.Errorf("lock still held after restart: %+v", li)
	}
	dmWait(t, 30*time.Second, "container running again", func() bool { return s.running(t) })
	dmAssertClean(t, target, s)

	next := d2.start("db", "volumes", "images")
	done := d2.waitEnded(next.ID, 90*time.Second)
	dmAssertPack(t, done)
	dmAssertClean(t, target, s)
	if packs, _ := TargetDirs(t, target); len(packs) != 1 {
		t.Errorf("packs %v, want the one of job %d", packs, next.ID)
	}
}
