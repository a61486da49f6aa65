package jobs_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/internal/i18n"
)

// mustVerifyPack writes a test pack and a Manager whose target holds it.
func mustVerifyPack(t *testing.T, cfg jobs.Config) (*jobs.Manager, *backuptest.Pack) {
	t.Helper()
	if cfg.Settings.TargetLocalDir == "" {
		cfg.Settings = backuptest.Settings(t)
	}
	p := backuptest.MustPack(t, cfg.Settings.TargetLocalDir, time.Now().Add(-time.Hour))
	return backuptest.MustManager(t, cfg), p
}

func TestRestorePlanAgainstTheEngine(t *testing.T) {
	eng := backuptest.NewRunningEngine()
	m, p := mustVerifyPack(t, jobs.Config{Engine: eng, Lang: i18n.Chinese})
	res, err := m.RestorePlan(context.Background(), jobs.RestorePlanRequest{Pack: filepath.Base(p.Dir), Project: "demo2"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Planned || res.Plan == nil || res.Plan.Project != "demo2" || res.PackageHash != p.Hash || len(res.Plan.Volumes) != 2 {
		t.Fatalf("plan %+v", res.Plan)
	}
	if i := slices.IndexFunc(res.Plan.Volumes, func(v restore.VolumePlan) bool { return v.Name == "demo_data" }); i < 0 ||
		res.Plan.Volumes[i].Target != "demo2_data" || res.Plan.Volumes[i].Action != restore.ActionCreate {
		t.Fatalf("volumes %+v", res.Plan.Volumes)
	}
	if slices.Contains(res.Plan.Components, pack.ComponentDB) {
		t.Errorf("the database is planned without a destination: %v", res.Plan.Components)
	}
	if eng.Loads() != 0 || len(eng.Imported()) != 0 {
		t.Errorf("a plan changed the engine: %d loads, %v imported", eng.Loads(), eng.Imported())
	}
	if _, err := m.RestorePlan(context.Background(), jobs.RestorePlanRequest{Pack: filepath.Base(p.Dir), Project: "Bad Name"}); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Errorf("bad project: %v", err)
	}
}

func TestDoctorInputsFollowTheSettings(t *testing.T) {
	s := backuptest.Settings(t)
	s.AuthDBPath = "/srv/app/auth.db"
	s.RagflowProjectName = ""
	s.RagflowComposePath = "/srv/My_App/docker-compose.yml"
	m := backuptest.MustManager(t, jobs.Config{Settings: s, StagingDir: "/var/tmp/x"})
	in, err := m.DoctorInputs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []pack.Component{pack.ComponentDB, pack.ComponentVolumes, pack.ComponentImages}
	if in.Project != "my_app" || in.Target != s.TargetLocalDir || in.SQLitePath != s.AuthDBPath || in.StagingDir != "/var/tmp/x" ||
		!slices.Equal(in.Components, want) || in.Engine == nil || in.StateDesc == "" || !in.Policy.AnyFSType {
		t.Fatalf("inputs %+v", in)
	}
}
