package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
)

// packRun writes a real (small, complete) pack into the job's target.
func packRun(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
	p(progress.Report{Step: progress.StepFinalize, Percent: 100, Message: "done", Time: time.Now()})
	return &backup.Result{Pack: copyTestPack, Name: filepath.Base(copyTestPack), PackageHash: backuptest.Hex([]byte("p")), Bytes: 1}, nil
}

var copyTestPack string // set by the test before the job starts

// TestCopyTargetAfterJob: with copy_target set to a second directory, a
// completed job's pack is copied there and verifies in full, the job's log
// saying so; with a copy_target that cannot be opened the job still
// completes and its log carries the failure.
func TestCopyTargetAfterJob(t *testing.T) {
	ctx := context.Background()
	set := backuptest.Settings(t)
	second := filepath.Join(t.TempDir(), "second")
	if err := os.MkdirAll(second, 0o755); err != nil {
		t.Fatal(err)
	}
	set.CopyTarget = second
	copyTestPack = backuptest.MustSmallPack(t, set.TargetLocalDir, "demo", time.Now().Add(-time.Minute))
	m := backuptest.MustManager(t, jobs.Config{StateDir: t.TempDir(), Settings: set, Run: packRun})

	j := copyJob(t, m)
	name := filepath.Base(copyTestPack)
	if line := copyLogLine(t, m, j.ID, "copied "+name); line == "" {
		t.Fatalf("job %d's log has no copy line", j.ID)
	} else {
		t.Logf("job log: %s", line)
	}
	if _, err := pack.Verify(ctx, filepath.Join(second, name), pack.VerifyOptions{}); err != nil {
		t.Fatalf("the copy at the second target: %v", err)
	}

	// A second target that cannot be opened: the job completes, the log says why.
	if _, err := m.UpdateSettings(ctx, MustPatch(t, "test", "copy_target", filepath.Join(t.TempDir(), "missing"))); err != nil {
		t.Fatal(err)
	}
	j = copyJob(t, m)
	if line := copyLogLine(t, m, j.ID, "failed"); line == "" || !strings.Contains(line, "the backup itself succeeded") {
		t.Fatalf("job %d's log has no copy failure: %q", j.ID, line)
	} else {
		t.Logf("job log: %s", line)
	}
}

func copyJob(t *testing.T, m *jobs.Manager) jobs.Job {
	t.Helper()
	j, err := m.Start(context.Background(), jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	j = MustJobEnded(t, m, j.ID)
	if j.Status != jobs.StatusCompleted {
		t.Fatalf("job %d: %s", j.ID, j.Status)
	}
	MustLockFree(t, m)
	return j
}

func copyLogLine(t *testing.T, m *jobs.Manager, id int64, sub string) string {
	t.Helper()
	lines, err := m.JobLog(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if strings.Contains(l.Message, sub) {
			return l.Message
		}
	}
	return ""
}
