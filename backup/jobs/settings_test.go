package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/settings"
)

func TestSettingsDefaults(t *testing.T) {
	ctx := context.Background()
	m := backuptest.MustManager(t, jobs.Config{Settings: settings.Default(), Run: quickRun})
	s, err := m.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Enabled || s.TargetMode != "local" || s.BackupRetentionMax != 30 || !s.FullBackupEnabled || !s.FullBackupIncludeImages ||
		s.IncrementalSchedule != nil || s.FullBackupSchedule != nil || s.TargetLocalDir != "" || s.StopServices == nil ||
		s.PinnedFields == nil || len(s.PinnedFields) != 0 || s.LastRunAtMs != nil || s.UpdatedAtMs == 0 || s.LocalBackupPackCount != 0 {
		t.Fatalf("default settings %+v", s)
	}
	// Zero retention and target mode in the configuration take their defaults.
	m2 := backuptest.MustManager(t, jobs.Config{Settings: settings.Settings{TargetLocalDir: "/srv/backups"}, Run: quickRun})
	s2, _ := m2.Settings(ctx)
	if s2.BackupRetentionMax != 30 || s2.TargetMode != "local" || s2.TargetLocalDir != "/srv/backups" {
		t.Fatalf("settings from a partial config %+v", s2)
	}
}

func TestSettingsUpdate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{StateDir: dir, Run: quickRun})
	before, _ := m.Settings(ctx)
	time.Sleep(2 * time.Millisecond) // updated_at_ms must move
	s, err := m.UpdateSettings(ctx, MustPatch(t, "nightly backups",
		"backup_retention_max", 5,
		"incremental_schedule", "  0  2 * * *  ",
		"stop_services", []string{"app", " worker "},
		"auth_db_path", "/srv/app/./data/auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if s.BackupRetentionMax != 5 || sv(s.IncrementalSchedule) != "0 2 * * *" || !slices.Equal(s.StopServices, []string{"app", "worker"}) ||
		s.AuthDBPath != "/srv/app/data/auth.db" || s.UpdatedAtMs <= before.UpdatedAtMs {
		t.Fatalf("after update %+v", s)
	}
	// Unchanged fields keep their values; clearing a schedule stores null.
	s, err = m.UpdateSettings(ctx, MustPatch(t, "pause", "incremental_schedule", nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.IncrementalSchedule != nil || s.BackupRetentionMax != 5 {
		t.Fatalf("after clearing %+v", s)
	}
	s, err = m.UpdateSettings(ctx, MustPatch(t, "empty means none", "full_backup_schedule", ""))
	if err != nil || s.FullBackupSchedule != nil {
		t.Fatalf("empty schedule: %+v %v", s.FullBackupSchedule, err)
	}
	n := 0
	mustRead(t, MustStateDB(t, dir), func(tx *statedb.Tx) error {
		changes, err := tx.SettingsChanges()
		for _, c := range changes {
			if c.Reason == "nightly backups" && slices.Contains(c.Fields, "backup_retention_max") {
				n++
			}
		}
		return err
	})
	if n != 1 {
		t.Fatalf("change not audited")
	}
}

func TestSettingsChangeReasonRequired(t *testing.T) {
	m := backuptest.MustManager(t, jobs.Config{Run: quickRun})
	_, err := m.UpdateSettings(context.Background(), MustPatch(t, "  ", "backup_retention_max", 3))
	var se *settings.Error
	if !errors.As(err, &se) || se.Field != "change_reason" || !errors.Is(err, jobs.ErrInvalidSettings) {
		t.Fatalf("err = %v", err)
	}
	if s, _ := m.Settings(context.Background()); s.BackupRetentionMax != 30 {
		t.Fatalf("changed without a reason: %d", s.BackupRetentionMax)
	}
}

func TestSettingsValidation(t *testing.T) {
	m := backuptest.MustManager(t, jobs.Config{Run: quickRun})
	tests := []struct {
		field string
		value any
	}{
		{"backup_retention_max", 0},
		{"backup_retention_max", 101},
		{"incremental_schedule", "every night"},
		{"incremental_schedule", "@daily"},
		{"full_backup_schedule", "0 2 * *"},
		{"full_backup_schedule", "0 25 * * *"},
		{"full_backup_schedule", "0 0 2 * * *"},
		{"target_mode", "nfs"},
		{"target_local_dir", "relative/dir"},
		{"auth_db_path", "auth.db"},
		{"ragflow_compose_path", "./docker-compose.yml"},
		{"ragflow_project_name", "My Project"},
		{"stop_services", []string{"app", "app"}},
		{"pack_mode", "0777"},
		{"pack_mode", "600"},
	}
	for _, tc := range tests {
		_, err := m.UpdateSettings(context.Background(), MustPatch(t, "test", tc.field, tc.value))
		var se *settings.Error
		if !errors.Is(err, jobs.ErrInvalidSettings) || !errors.As(err, &se) || se.Field != tc.field {
			t.Errorf("%s: err = %v", tc.field, err)
			continue
		}
		t.Logf("%s: %v", tc.field, err)
	}
	s, _ := m.Settings(context.Background())
	if s.BackupRetentionMax != 30 || s.TargetMode != "local" || s.IncrementalSchedule != nil {
		t.Fatalf("a refused update changed something: %+v", s)
	}
}

func TestSettingsPinned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	set := backuptest.Settings(t)
	set.BackupRetentionMax = 10
	m := backuptest.MustManager(t, jobs.Config{StateDir: dir, Settings: set, Pinned: []string{"backup_retention_max", "target_local_dir"}, Run: quickRun})
	_, err := m.UpdateSettings(ctx, MustPatch(t, "more", "backup_retention_max", 20))
	var pe *jobs.PinnedError
	if !errors.As(err, &pe) || pe.Field != "backup_retention_max" || !errors.Is(err, jobs.ErrSettingPinned) {
		t.Fatalf("PUT to a pinned field: %v", err)
	}
	// The same value is no change: accepted (a UI may send the whole object back).
	s, err := m.UpdateSettings(ctx, MustPatch(t, "same value", "backup_retention_max", 10, "enabled", false))
	if err != nil || s.BackupRetentionMax != 10 || s.Enabled {
		t.Fatalf("same value of a pinned field: %+v %v", s, err)
	}
	if !slices.Equal(s.PinnedFields, []string{"backup_retention_max", "target_local_dir"}) {
		t.Fatalf("pinned fields %v", s.PinnedFields)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Restart with new configuration: the pinned value follows it, the
	// UI-edited one (enabled) stays as stored.
	set.BackupRetentionMax = 12
	set.Enabled = true
	m2 := backuptest.MustManager(t, jobs.Config{StateDir: dir, Settings: set, Pinned: []string{"backup_retention_max"}, Run: quickRun})
	s2, _ := m2.Settings(ctx)
	if s2.BackupRetentionMax != 12 || s2.Enabled {
		t.Fatalf("after restart: retention %d (pinned, want 12), enabled %v (stored, want false)", s2.BackupRetentionMax, s2.Enabled)
	}
	if _, err := m2.UpdateSettings(ctx, MustPatch(t, "no longer pinned", "target_local_dir", "/elsewhere")); err != nil {
		t.Fatalf("unpinned field: %v", err)
	}
}

func TestSettingsRetentionChangesWhatIsKept(t *testing.T) {
	ctx := context.Background()
	clock := backuptest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	set := backuptest.Settings(t)
	set.BackupRetentionMax = 3
	m := backuptest.MustManager(t, jobs.Config{Settings: set, Now: clock.Now})
	runOnce := func() jobs.Job {
		t.Helper()
		clock.Advance(time.Second)
		job, err := m.Start(ctx, jobs.Request{})
		if err != nil {
			t.Fatal(err)
		}
		got := MustJobEnded(t, m, job.ID)
		if got.Status != jobs.StatusCompleted {
			t.Fatalf("job %+v %s", got, sv(got.Detail))
		}
		MustLockFree(t, m)
		return got
	}
	count := func() int {
		s, err := m.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s.LocalBackupPackCount
	}
	for range 4 {
		runOnce()
	}
	if n := count(); n != 3 {
		t.Fatalf("%d packs with retention 3", n)
	}
	if _, err := m.UpdateSettings(ctx, MustPatch(t, "disk is small", "backup_retention_max", 1)); err != nil {
		t.Fatal(err)
	}
	last := runOnce()
	if n := count(); n != 1 {
		t.Fatalf("%d packs after lowering retention to 1", n)
	}
	packs, _ := m.Packs(ctx)
	if len(packs) != 1 || packs[0].Name != sv(last.PackName) {
		t.Fatalf("kept %+v, want the newest %s", packs, sv(last.PackName))
	}
	lines, _ := m.JobLog(ctx, last.ID)
	deleted := 0
	for _, l := range lines {
		if strings.Contains(l.Message, "retention (keep 1): deleted") {
			deleted++
		}
	}
	if deleted != 3 {
		t.Fatalf("%d retention lines in the job log, want 3: %+v", deleted, lines)
	}
}

func TestSettingsPackCountReadsNames(t *testing.T) {
	set := backuptest.Settings(t)
	for _, name := range []string{"migration_pack_20250101_000000_000", "migration_pack_x", "migration_pack_y", ".partial-migration_pack_z", "other"} {
		if err := os.Mkdir(filepath.Join(set.TargetLocalDir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(set.TargetLocalDir, "migration_pack_file"), nil, 0o644)
	m := backuptest.MustManager(t, jobs.Config{Settings: set, Run: quickRun})
	s, err := m.Settings(context.Background())
	if err != nil || s.LocalBackupPackCount != 3 || s.LocalBackupPackCountSkipped {
		t.Fatalf("pack count %d skipped %v (%v), want 3", s.LocalBackupPackCount, s.LocalBackupPackCountSkipped, err)
	}
	set.TargetLocalDir = filepath.Join(set.TargetLocalDir, "missing")
	m2 := backuptest.MustManager(t, jobs.Config{Settings: set, Run: quickRun})
	if s, err := m2.Settings(context.Background()); err != nil || s.LocalBackupPackCount != 0 || s.LocalBackupPackCountSkipped {
		t.Fatalf("missing target: %+v %v", s, err)
	}
}

func TestSettingsProjectDerivedFromComposePath(t *testing.T) {
	ctx := context.Background()
	set := backuptest.Settings(t)
	set.RagflowProjectName = ""
	set.RagflowComposePath = "/srv/My_App.v2/docker-compose.yml"
	m := backuptest.MustManager(t, jobs.Config{Settings: set, Run: quickRun})
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Project != "my_appv2" {
		t.Fatalf("project %q", job.Project)
	}
	MustJobEnded(t, m, job.ID)
}

func TestSettingsComposeProjectName(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stack", "compose.prod")
	os.MkdirAll(filepath.Dir(file), 0o755)
	os.WriteFile(file, nil, 0o644)
	for in, want := range map[string]string{
		"":                                "",
		"/srv/ragflow/docker-compose.yml": "ragflow",
		"/srv/RagFlow Auth/compose.yaml":  "ragflowauth",
		"/srv/ragflow":                    "ragflow",
		"/srv/_-My.Stack-1/":              "mystack-1",
		"MyProject":                       "myproject",
		"demo_app":                        "demo_app",
		file:                              "stack",
		"/srv/部署/docker-compose.yml":      "",
	} {
		if got := settings.ComposeProjectName(in); got != want {
			t.Errorf("ComposeProjectName(%q) = %q, want %q", in, got, want)
		}
	}
}

// MustPatch is a settings patch of (JSON name, value) pairs.
func MustPatch(t *testing.T, reason string, nameValues ...any) settings.Patch {
	t.Helper()
	p := settings.Patch{ChangeReason: reason}
	for i := 0; i+1 < len(nameValues); i += 2 {
		if err := p.Set(nameValues[i].(string), nameValues[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestSettingsUpdateRefusesMistypedValues(t *testing.T) {
	m := backuptest.MustManager(t, jobs.Config{Run: quickRun})
	ctx := context.Background()
	_, err := m.UpdateSettings(ctx, settings.Patch{ChangeReason: "x", Values: map[string]json.RawMessage{
		"backup_retention_max": json.RawMessage(`5`), "enabled": json.RawMessage(`"no"`)}})
	var se *settings.Error
	if !errors.As(err, &se) || se.Field != "enabled" {
		t.Fatalf("mistyped value: %v", err)
	}
	if s, _ := m.Settings(ctx); s.BackupRetentionMax != 30 {
		t.Errorf("a refused update changed retention to %d", s.BackupRetentionMax)
	}
}

func TestSettingsPackModeReachesTheBackup(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run})
	s, _ := m.Settings(ctx)
	if s.PackMode != "0600" {
		t.Fatalf("default pack_mode %q", s.PackMode)
	}
	for _, c := range []struct {
		value string
		want  os.FileMode
	}{{"0600", 0o600}, {"0640", 0o640}, {"0644", 0o644}} {
		if _, err := m.UpdateSettings(ctx, MustPatch(t, "share readers", "pack_mode", c.value)); err != nil {
			t.Fatal(err)
		}
		job, err := m.Start(ctx, jobs.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if spec := br.waitStarted(t); spec.PackMode != c.want {
			t.Errorf("pack_mode %s: the backup got %04o", c.value, spec.PackMode)
		}
		br.release <- struct{}{}
		MustJobEnded(t, m, job.ID)
		MustLockFree(t, m) // the lease is released after the job's end is recorded
	}
}

// The consistency settings (stop_app_services, strict_mounts, bind_max_mib)
// reach the backup as the CLI's --stop-app, --strict and --bind-max-size do.
func TestSettingsConsistencyReachTheBackup(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run})
	s, _ := m.Settings(ctx)
	if len(s.StopAppServices) != 0 || s.StrictMounts || s.BindMaxMiB != settings.DefaultBindMaxMiB {
		t.Fatalf("defaults: stop_app_services %v strict_mounts %v bind_max_mib %d", s.StopAppServices, s.StrictMounts, s.BindMaxMiB)
	}
	job, _ := m.Start(ctx, jobs.Request{})
	if spec := br.waitStarted(t); len(spec.StopApps) != 0 || spec.Strict || spec.BindLimit != settings.DefaultBindMaxMiB<<20 {
		t.Errorf("default settings: the backup got StopApps %v Strict %v BindLimit %d", spec.StopApps, spec.Strict, spec.BindLimit)
	}
	br.release <- struct{}{}
	MustJobEnded(t, m, job.ID)
	MustLockFree(t, m)

	if _, err := m.UpdateSettings(ctx, MustPatch(t, "consistent without downtime", "stop_app_services", []string{"app"}, "strict_mounts", true, "bind_max_mib", 8)); err != nil {
		t.Fatal(err)
	}
	job, _ = m.Start(ctx, jobs.Request{})
	if spec := br.waitStarted(t); !slices.Equal(spec.StopApps, []string{"app"}) || !spec.Strict || spec.BindLimit != 8<<20 {
		t.Errorf("changed settings: the backup got StopApps %v Strict %v BindLimit %d", spec.StopApps, spec.Strict, spec.BindLimit)
	}
	br.release <- struct{}{}
	MustJobEnded(t, m, job.ID)
	if _, err := m.UpdateSettings(ctx, MustPatch(t, "too small", "bind_max_mib", 0)); err == nil {
		t.Error("bind_max_mib 0 was accepted")
	}
}
