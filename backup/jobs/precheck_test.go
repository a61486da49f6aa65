package jobs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/internal/i18n"
)

func TestPrecheckRefusesBeforeAJobExists(t *testing.T) {
	ctx := context.Background()
	set := backuptest.Settings(t)
	set.AuthDBPath = "/nonexistent/auth.db"
	m := backuptest.MustManager(t, jobs.Config{Settings: set, Run: quickRun, Lang: i18n.Chinese})
	plan, err := m.Precheck(ctx, jobs.Request{})
	if !errors.Is(err, backup.ErrPrecheck) || plan == nil {
		t.Fatalf("missing database: %v", err)
	}
	failed := check.Failed(plan.Checks)
	if len(failed) == 0 || failed[0].Summary == "" || failed[0].Code == "" {
		t.Fatalf("failed checks %+v", failed)
	}
	if list, _ := m.List(ctx, jobs.ListOptions{}); len(list) != 0 {
		t.Errorf("a precheck created jobs: %+v", list)
	}
	set2 := backuptest.Settings(t)
	set2.AuthDBPath = backuptest.MustSQLite(t, t.TempDir(), "auth.db", "ada")
	m2 := backuptest.MustManager(t, jobs.Config{Settings: set2, Run: quickRun})
	if plan, err := m2.Precheck(ctx, jobs.Request{Full: true}); err != nil || len(plan.Checks) == 0 {
		t.Errorf("sound setup: %v", err)
	}
	set3 := backuptest.Settings(t)
	set3.TargetLocalDir = ""
	m3 := backuptest.MustManager(t, jobs.Config{Settings: set3, Run: quickRun})
	if _, err := m3.Precheck(ctx, jobs.Request{}); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Errorf("no target: %v", err)
	}
}
