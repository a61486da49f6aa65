//go:build integration

package integration_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// A cancel during each step of a full backup (db, volumes with the
// services stopped, images) leaves no partial dir and no stopped
// container, and frees the lock; each daemon then exits 0 on SIGTERM.
// Finally a SIGTERM during the volume step cancels and cleans up the
// running job and the daemon exits 0.
func TestDaemonCancelDuringEachStep(t *testing.T) {
	s := dmNewStack(t, 256<<10)
	target := MustTmpfs(t, 256<<20)
	state := t.TempDir()
	steps := []progress.Step{progress.StepPrecheck, progress.StepSQLite, progress.StepVolumes, progress.StepImages,
		progress.StepCompose, progress.StepManifest, progress.StepFinalize}
	for i, step := range steps {
		t.Run(string(step), func(t *testing.T) {
			hold := t.TempDir()
			d := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true, args: []string{"--stop-all", "--cancel-grace", "3s"},
				env: []string{"DOCKPACK_TEST_HOLD_STEP=" + string(step), "DOCKPACK_TEST_HOLD_DIR=" + hold}})
			j := d.start("db", "volumes", "images")
			d.waitHeld(hold, step, j.ID)
			if step == progress.StepVolumes && s.runningByList(t) {
				t.Error("the container runs in the middle of the volume step")
			}
			if _, partials := TargetDirs(t, target); (step == progress.StepPrecheck) != (len(partials) == 0) {
				t.Errorf("partial dirs while held in %s: %v", step, partials)
			}
			t0 := time.Now()
			path := "/v1/jobs/" + dmItoa(j.ID) + "/cancel"
			if i%2 == 1 {
				path = "/api/admin/data-security/backup/jobs/" + dmItoa(j.ID) + "/cancel"
			}
			if code, b := d.do("POST", path, `{"reason": "test cancel in `+string(step)+`"}`); code != 200 {
				t.Fatalf("cancel: %d %s", code, b)
			}
			got := d.waitEnded(j.ID, 30*time.Second)
			if got.Status != jobs.StatusCanceled || got.CancelReason == nil || *got.CancelReason != "test cancel in "+string(step) {
				t.Errorf("after cancel in %s: %s", step, dmJobString(got))
			}
			dmWait(t, 30*time.Second, "lock released", func() bool { return !d.lock().Held })
			t.Logf("canceled in %s: ended %v after the request, lock free", step, time.Since(t0).Round(time.Millisecond))
			dmWait(t, 30*time.Second, "container running", func() bool { return s.running(t) })
			dmAssertClean(t, target, s)
			if packs, _ := TargetDirs(t, target); len(packs) > 0 {
				t.Errorf("packs after a canceled backup: %v", packs)
			}
			d.kill(syscall.SIGTERM)
			if code := d.waitExit(30 * time.Second); code != 0 {
				t.Errorf("exit code after SIGTERM: %d", code)
			}
		})
	}

	t.Run("sigterm-during-volumes", func(t *testing.T) {
		hold := t.TempDir()
		d := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true, args: []string{"--stop-all"},
			env: []string{"DOCKPACK_TEST_HOLD_STEP=volumes", "DOCKPACK_TEST_HOLD_DIR=" + hold}})
		j := d.start("db", "volumes", "images")
		d.waitHeld(hold, progress.StepVolumes, j.ID)
		t0 := time.Now()
		d.kill(syscall.SIGTERM)
		if code := d.waitExit(60 * time.Second); code != 0 {
			t.Errorf("exit code after SIGTERM mid-backup: %d", code)
		}
		t.Logf("SIGTERM mid-backup: exited 0 after %v", time.Since(t0).Round(time.Millisecond))
		if !dockertest.Running(t, s.cli, s.app) {
			t.Error("the container the backup stopped is not running after the daemon exited")
		}
		dmAssertClean(t, target, s)
		d2 := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true})
		if got := d2.job(j.ID); got.Status.Active() || got.Status == jobs.StatusCompleted {
			t.Errorf("job after SIGTERM and restart: %s", dmJobString(got))
		} else {
			t.Logf("job after SIGTERM: %s", dmJobString(got))
		}
		if li := d2.lock(); li.Held {
			t.Errorf("lock held after a clean shutdown: %+v", li)
		}
	})

	t.Run("sigterm-wait-on-shutdown", func(t *testing.T) {
		d := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true, args: []string{"--wait-on-shutdown"},
			env: []string{"DOCKPACK_TEST_THROTTLE_BPS=262144"}}) // the 256 KiB volume takes ~1 s
		j := d.start("db", "volumes")
		d.waitJob(j.ID, 30*time.Second, "writing its volume", func(j jobs.Job) bool {
			return j.Step != nil && *j.Step == string(progress.StepVolumes) && j.BytesDone > 0
		})
		d.kill(syscall.SIGTERM)
		dmWait(t, 10*time.Second, "new connections refused", func() bool {
			_, _, err := d.try("GET", "/healthz", "")
			return err != nil
		})
		if code := d.waitExit(60 * time.Second); code != 0 {
			t.Errorf("exit code after SIGTERM with --wait-on-shutdown: %d", code)
		}
		d2 := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true})
		got := d2.job(j.ID)
		dmAssertPack(t, got)
		dmAssertClean(t, target, s)
	})
}
