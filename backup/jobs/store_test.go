package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/settings"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

func TestStoreMigratesFromEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // does not exist yet
	backuptest.MustManager(t, jobs.Config{StateDir: dir, Run: quickRun})
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v, mode %v", err, fi.Mode())
	}
	db := MustStateDB(t, dir)
	var f statedb.Facts
	var rows map[string]json.RawMessage
	mustRead(t, db, func(tx *statedb.Tx) error {
		var err error
		if f, err = tx.Facts(); err != nil {
			return err
		}
		rows, _, err = tx.SettingsRows()
		return err
	})
	if v := f.UserVersion; v != jobs.SchemaVersion() || v < 1 {
		t.Fatalf("user_version %d, want %d", v, jobs.SchemaVersion())
	}
	if f.JournalMode != "wal" {
		t.Fatalf("journal_mode %q", f.JournalMode)
	}
	for _, table := range []string{"jobs", "backup_locks", "job_events", "job_stopped_containers", "settings", "settings_changes", "meta"} {
		if !slices.Contains(f.Tables, table) {
			t.Errorf("table %s missing", table)
		}
	}
	// The initial settings were stored.
	if n := len(rows); n != len(settings.Editable()) {
		t.Errorf("%d settings rows, want %d", n, len(settings.Editable()))
	}
}

func TestStoreReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	set := backuptest.Settings(t)
	m1, err := jobs.NewManager(ctx, jobs.Config{StateDir: dir, Engine: backuptest.NewRunningEngine(), Settings: set, Policy: backuptest.Relaxed, Run: quickRun, DisableScheduler: true})
	if err != nil {
		t.Fatal(err)
	}
	job, err := m1.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	MustJobEnded(t, m1, job.ID)
	MustLockFree(t, m1)
	if _, err := m1.UpdateSettings(ctx, MustPatch(t, "test", "backup_retention_max", 7)); err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Start(ctx, jobs.Request{}); !errors.Is(err, jobs.ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}

	// Reopened with different initial settings: the stored ones win.
	set2 := set
	set2.BackupRetentionMax = 50
	m2 := backuptest.MustManager(t, jobs.Config{StateDir: dir, Settings: set2, Run: quickRun})
	got, err := m2.Get(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.StatusCompleted || got.Progress != 100 || sv(got.PackName) != "migration_pack_quick" || got.FinishedAtMs == nil {
		t.Fatalf("reopened job %+v", got)
	}
	s, err := m2.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.BackupRetentionMax != 7 {
		t.Fatalf("retention %d after reopen, want the stored 7", s.BackupRetentionMax)
	}
	// A second job gets the next id.
	j2, err := m2.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if j2.ID <= job.ID {
		t.Fatalf("new job id %d after %d", j2.ID, job.ID)
	}
	MustJobEnded(t, m2, j2.ID)
}

func TestStoreRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	conn, err := sqlite.OpenConn(filepath.Join(dir, jobs.StateDBFile), sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(conn, "PRAGMA user_version = 99", nil); err != nil { // a newer dockpack's database
		t.Fatal(err)
	}
	conn.Close()
	_, err = jobs.NewManager(context.Background(), jobs.Config{StateDir: dir, Engine: backuptest.NewRunningEngine(), Settings: backuptest.Settings(t), Policy: backuptest.Relaxed, DisableScheduler: true})
	if !errors.Is(err, jobs.ErrStateDB) {
		t.Fatalf("err = %v, want ErrStateDB", err)
	}
	t.Log(err)
}

func TestStoreMigrationIsIdempotentAcrossManagers(t *testing.T) {
	// Several managers opening one fresh DB at once: each migration runs once.
	dir := t.TempDir()
	set := backuptest.Settings(t)
	errs := make(chan error, 4)
	ms := make(chan *jobs.Manager, 4)
	for range 4 {
		go func() {
			m, err := jobs.NewManager(context.Background(), jobs.Config{StateDir: dir, Engine: backuptest.NewRunningEngine(), Settings: set, Policy: backuptest.Relaxed, DisableScheduler: true})
			errs <- err
			ms <- m
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		m := <-ms
		t.Cleanup(func() { m.Close(context.Background()) })
	}
	mustRead(t, MustStateDB(t, dir), func(tx *statedb.Tx) error {
		f, err := tx.Facts()
		if f.UserVersion != jobs.SchemaVersion() {
			t.Fatalf("user_version %d", f.UserVersion)
		}
		return err
	})
}
