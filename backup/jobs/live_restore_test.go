package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// lrEngine is the fake engine plus a container outside the project, found
// by FindContainers (name "auth-backend" or label role=auth).
type lrEngine struct {
	*backuptest.Engine
}

func (e lrEngine) FindContainers(ctx context.Context, sels []dockerapi.ContainerSelector) ([]dockerapi.Container, []dockerapi.ContainerSelector, error) {
	auth := dockerapi.Container{ID: "c-auth", Name: "auth-backend", Running: e.IsRunning("c-auth"), Labels: map[string]string{"role": "auth"}}
	var found []dockerapi.Container
	var unmatched []dockerapi.ContainerSelector
	for _, s := range sels {
		if s.Name == auth.Name || (s.LabelKey == "role" && (!s.HasValue || s.LabelValue == "auth")) {
			found = append(found, auth)
			continue
		}
		unmatched = append(unmatched, s)
	}
	return found, unmatched, nil
}

// lrSetup is a manager with a completed job (a pack whose database holds
// ada and grace) and a live database holding zed.
type lrSetup struct {
	m     *jobs.Manager
	eng   lrEngine
	state string
	live  string
	job   jobs.Job
}

func newLRSetup(t *testing.T, edit func(s *settings.Settings)) *lrSetup {
	t.Helper()
	eng := lrEngine{backuptest.NewRunningEngine()}
	eng.SetRunning("c-auth", true)
	set := backuptest.Settings(t)
	live := backuptest.MustSQLite(t, t.TempDir(), "auth.db", "zed")
	set.AuthDBPath = live
	set.StopServices = []string{"app"}
	if edit != nil {
		edit(&set)
	}
	state := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{StateDir: state, Engine: eng, Settings: set, Run: rsPackRun(t)})
	return &lrSetup{m: m, eng: eng, state: state, live: live, job: MustRsDrillJob(t, m)}
}

func (s *lrSetup) req() jobs.LiveRestoreRequest {
	return jobs.LiveRestoreRequest{JobID: s.job.ID, BackupPath: *s.job.OutputDir, BackupHash: *s.job.PackageHash,
		ChangeReason: "recover deleted user", ConfirmationText: "RESTORE", ExecutedBy: "u-admin"}
}

// mustUsers lists the users table of a database.
func mustUsers(t *testing.T, db string) []string {
	t.Helper()
	conn, err := sqlite.OpenConn(db, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var names []string
	if err := sqlitex.Execute(conn, `SELECT name FROM users ORDER BY id`, &sqlitex.ExecOptions{ResultFunc: func(stmt *sqlite.Stmt) error {
		names = append(names, stmt.ColumnText(0))
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestLiveRestoreReplacesTheLiveDatabase(t *testing.T) {
	s := newLRSetup(t, nil)
	lr, err := s.m.RunLiveRestore(context.Background(), s.req())
	if err != nil {
		t.Fatal(err)
	}
	if lr.Status != "completed" || lr.Result != "success" || !lr.HashMatch || !lr.CompareMatch || lr.LiveAuthDBPath != s.live ||
		lr.ExecutedBy != "u-admin" || lr.ChangeReason != "recover deleted user" || !lr.ServicesRestarted || lr.LiveAuthDBHash != lr.SourceAuthDBHash {
		t.Fatalf("restore %+v", lr)
	}
	if got := mustUsers(t, s.live); strings.Join(got, ",") != "ada,grace" {
		t.Errorf("live database after the restore: %v", got)
	}
	if !strings.HasPrefix(lr.BeforeRestorePath, s.live+sqlitesnap.BeforeRestoreSuffix) {
		t.Fatalf("kept copy %q", lr.BeforeRestorePath)
	}
	if got := mustUsers(t, lr.BeforeRestorePath); strings.Join(got, ",") != "zed" {
		t.Errorf("kept copy holds %v, want the replaced database (zed)", got)
	}
	for _, f := range []string{s.live + "-wal", s.live + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("stale %s left beside the restored database", f)
		}
	}
	calls := strings.Join(s.eng.Calls(), "|")
	if !strings.Contains(calls, "stop c-app") || !strings.Contains(calls, "start c-app") || !s.eng.IsRunning("c-app") {
		t.Errorf("the app was not stopped and started again: %s", calls)
	}
	list, err := s.m.ListLiveRestores(context.Background(), 0)
	if err != nil || len(list) != 1 || list[0].RestoreID != lr.RestoreID || list[0].Status != "completed" || list[0].ExecutedBy != "u-admin" {
		t.Fatalf("list %+v %v", list, err)
	}
	lines, _ := s.m.JobLog(context.Background(), s.job.ID)
	if !slices.ContainsFunc(lines, func(l jobs.LogLine) bool {
		return strings.Contains(l.Message, "u-admin") && strings.Contains(l.Message, "recover deleted user")
	}) {
		t.Errorf("the job's log does not record the restore: %+v", lines)
	}
	MustLockFree(t, s.m)
}

func TestLiveRestoreRefusals(t *testing.T) {
	s := newLRSetup(t, nil)
	before, _ := os.ReadFile(s.live)
	stopsBefore, _ := s.eng.StopStartCalls()
	pk := *s.job.OutputDir
	cases := []struct {
		name string
		edit func(r *jobs.LiveRestoreRequest)
		code string
		is   error
	}{
		{"no confirmation", func(r *jobs.LiveRestoreRequest) { r.ConfirmationText = " " }, "restore_confirmation_text_required", backup.ErrInvalidSpec},
		{"lowercase confirmation", func(r *jobs.LiveRestoreRequest) { r.ConfirmationText = "restore" }, "restore_confirmation_text_invalid", backup.ErrInvalidSpec},
		{"no reason", func(r *jobs.LiveRestoreRequest) { r.ChangeReason = "" }, "change_reason_required", backup.ErrInvalidSpec},
		{"other path", func(r *jobs.LiveRestoreRequest) { r.BackupPath = "/elsewhere" }, "restore_backup_path_must_match_local_backup", backup.ErrInvalidSpec},
		{"other hash", func(r *jobs.LiveRestoreRequest) { r.BackupHash = strings.Repeat("0", 64) }, "restore_backup_hash_must_match_job_package_hash", backup.ErrInvalidSpec},
		{"unknown job", func(r *jobs.LiveRestoreRequest) { r.JobID = 99 }, "", jobs.ErrJobNotFound},
	}
	for _, c := range cases {
		r := s.req()
		c.edit(&r)
		_, err := s.m.RunLiveRestore(context.Background(), r)
		var re *jobs.RestoreError
		if !errors.Is(err, c.is) || (c.code != "" && (!errors.As(err, &re) || re.Code != c.code)) {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// A tampered database in the pack, then a tampered manifest.
	backuptest.MustFlip(t, filepath.Join(pk, "auth.db"), 200)
	_, err := s.m.RunLiveRestore(context.Background(), s.req())
	var re *jobs.RestoreError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Code, "restore_pack_verification_failed") || !errors.Is(err, backup.ErrInvalidSpec) {
		t.Errorf("tampered database: %v", err)
	}
	backuptest.MustFlip(t, filepath.Join(pk, "auth.db"), 200)
	mf := filepath.Join(pk, "manifest.json")
	b, _ := os.ReadFile(mf)
	os.WriteFile(mf, append(b, ' '), 0o644)
	if _, err := s.m.RunLiveRestore(context.Background(), s.req()); !errors.As(err, &re) || re.Code != "restore_backup_hash_mismatch" {
		t.Errorf("tampered manifest: %v", err)
	}
	after, _ := os.ReadFile(s.live)
	if string(before) != string(after) {
		t.Error("a refused restore changed the live database")
	}
	if stops, _ := s.eng.StopStartCalls(); stops != stopsBefore {
		t.Errorf("refused restores stopped containers: %v", s.eng.Calls())
	}
	if list, _ := s.m.ListLiveRestores(context.Background(), 0); len(list) != 0 {
		t.Errorf("refused restores were recorded: %+v", list)
	}
	if m, _ := filepath.Glob(s.live + sqlitesnap.BeforeRestoreSuffix + "*"); len(m) != 0 {
		t.Errorf("refused restores kept copies: %v", m)
	}
}

func TestLiveRestoreBusyWhileABackupRuns(t *testing.T) {
	s := newLRSetup(t, nil)
	br := newBlockingRun()
	m2 := backuptest.MustManager(t, jobs.Config{StateDir: s.state, Engine: s.eng, Run: br.Run, Settings: backuptest.Settings(t)})
	job, err := m2.Start(context.Background(), jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	br.waitStarted(t)
	_, err = s.m.RunLiveRestore(context.Background(), s.req())
	var re *jobs.RestoreError
	var busy *jobs.BusyError
	if !errors.As(err, &re) || !errors.Is(err, jobs.ErrRestoreConflict) || !errors.As(err, &busy) || busy.JobID != job.ID ||
		re.Code != "restore_requires_no_active_backup_job:"+strings.TrimPrefix(re.Code, "restore_requires_no_active_backup_job:") {
		t.Fatalf("restore while a backup runs: %v", err)
	}
	if got := mustUsers(t, s.live); strings.Join(got, ",") != "zed" {
		t.Errorf("live database changed: %v", got)
	}
	close(br.release)
	MustJobEnded(t, m2, job.ID)
}

func TestLiveRestoreRefusedWhileTheDatabaseStaysInUse(t *testing.T) {
	s := newLRSetup(t, nil)
	conn, err := sqlite.OpenConn(s.live, sqlite.OpenReadWrite|sqlite.OpenWAL) // an application nobody stops
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteTransient(conn, `SELECT count(*) FROM users`, nil); err != nil {
		t.Fatal(err)
	}
	lr, err := s.m.RunLiveRestore(context.Background(), s.req())
	var re *jobs.RestoreError
	if !errors.As(err, &re) || re.Code != "restore_live_auth_db_in_use" || !errors.Is(err, jobs.ErrRestoreConflict) || !errors.Is(err, sqlitesnap.ErrInUse) {
		t.Fatalf("in use: %v", err)
	}
	if lr.Status != "failed" || lr.BeforeRestorePath != "" || !lr.ServicesRestarted || !s.eng.IsRunning("c-app") {
		t.Errorf("failed restore %+v (app running %v)", lr, s.eng.IsRunning("c-app"))
	}
	if m, _ := filepath.Glob(s.live + sqlitesnap.BeforeRestoreSuffix + "*"); len(m) != 0 {
		t.Errorf("a refused restore left its kept copy: %v", m)
	}
	if list, _ := s.m.ListLiveRestores(context.Background(), 0); len(list) != 1 || list[0].Status != "failed" || list[0].Detail == nil {
		t.Errorf("the failed restore is not recorded: %+v", list)
	}
}

func TestLiveRestoreStopsNamedContainersOutsideTheProject(t *testing.T) {
	s := newLRSetup(t, func(set *settings.Settings) {
		set.RestoreStopServices = []string{"auth-backend", "label:role=auth", "gone"}
	})
	lr, err := s.m.RunLiveRestore(context.Background(), s.req())
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Join(s.eng.Calls(), "|")
	if strings.Join(lr.StoppedContainers, ",") != "auth-backend" || !strings.Contains(calls, "stop c-auth") || !s.eng.IsRunning("c-auth") {
		t.Errorf("stopped %v, calls %s", lr.StoppedContainers, calls)
	}
	if strings.Count(calls, "stop c-app") > 1 {
		t.Errorf("the project's app was stopped although restore_stop_services names others: %s", calls)
	}
	s2 := newLRSetup(t, func(set *settings.Settings) { set.RestoreStopServices = []string{"label:"} })
	var re *jobs.RestoreError
	if _, err := s2.m.RunLiveRestore(context.Background(), s2.req()); !errors.As(err, &re) || re.Code != "invalid_restore_stop_services" {
		t.Errorf("bad selector: %v", err)
	}
}

// A restore whose process died (its row says running, its lock is gone)
// is ended as failed and the containers it stopped are started again.
func TestLiveRestoreRecovery(t *testing.T) {
	s := newLRSetup(t, nil)
	db := MustStateDB(t, s.state)
	s.eng.SetRunning("c-app", false)
	mustWrite(t, db, func(tx *statedb.Tx) error {
		return tx.InsertLiveRestore(statedb.LiveRestore{RestoreID: "live_restore_dead", JobID: s.job.ID, Status: statedb.LiveRestoreRunning,
			ExecutedBy: "u-admin", ChangeReason: "x", ExecutedAtMs: 1, LeaseToken: "dead-token",
			Stopped: []statedb.Container{{ID: "c-app", Name: "demo_app_1"}}, Body: []byte(`{"restore_id":"live_restore_dead"}`)})
	})
	if _, err := s.m.RunLiveRestore(context.Background(), s.req()); err != nil {
		t.Fatal(err)
	}
	list, _ := s.m.ListLiveRestores(context.Background(), 0)
	if len(list) != 2 || list[1].RestoreID != "live_restore_dead" || list[1].Status != "failed" || list[1].Detail == nil {
		t.Fatalf("restores %+v", list)
	}
	if !s.eng.IsRunning("c-app") || !slices.Contains(s.eng.Started(), "c-app") {
		t.Errorf("the dead restore's container was not started again: %v", s.eng.Started())
	}
	var unsettled []statedb.LiveRestore
	mustRead(t, db, func(tx *statedb.Tx) error {
		var err error
		unsettled, err = tx.UnsettledLiveRestores()
		return err
	})
	if len(unsettled) != 0 {
		t.Errorf("unsettled restores left: %+v", unsettled)
	}
}
