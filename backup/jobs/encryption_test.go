package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
)

// A completed backup's job says whether its pack is sealed and to whom
// (the manifest's encryption section), kept in the state DB across a
// reopen and served in the job JSON; a plaintext pack says encrypted
// false; a failed job says nothing.
func TestJobEncryption(t *testing.T) {
	ctx := context.Background()
	recipients := []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"}
	mode := "sealed"
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		res, err := quickRun(ctx, spec, p)
		switch mode {
		case "sealed":
			res.Manifest = &pack.Manifest{Encryption: &pack.EncryptionEntry{Scheme: pack.SchemeAge, Recipients: recipients}}
		case "plain":
			res.Manifest = &pack.Manifest{}
		case "failed":
			return nil, errors.New("boom")
		}
		return res, err
	}
	dir := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{Run: run, StateDir: dir})
	start := func() jobs.Job {
		t.Helper()
		j, err := m.Start(ctx, jobs.Request{})
		if err != nil {
			t.Fatal(err)
		}
		j = MustJobEnded(t, m, j.ID)
		MustLockFree(t, m)
		return j
	}
	sealed := start()
	want := &jobs.Encryption{Encrypted: true, Scheme: "age", Recipients: recipients}
	if sealed.Status != jobs.StatusCompleted || !reflect.DeepEqual(sealed.Encryption, want) {
		t.Fatalf("sealed job %s: encryption %+v, want %+v", sealed.Status, sealed.Encryption, want)
	}
	b, _ := json.Marshal(sealed)
	if !strings.Contains(string(b), `"encryption":{"encrypted":true,"scheme":"age","recipients":["`+recipients[0]+`","`+recipients[1]+`"]}`) {
		t.Fatalf("sealed job JSON: %s", b)
	}
	mode = "plain"
	plain := start()
	if b, _ := json.Marshal(plain); !strings.Contains(string(b), `"encryption":{"encrypted":false}`) {
		t.Fatalf("plaintext job JSON: %s", b)
	}
	mode = "failed"
	failed := start()
	if b, _ := json.Marshal(failed); failed.Status != jobs.StatusFailed || strings.Contains(string(b), `"encryption"`) {
		t.Fatalf("failed job (%s) JSON has encryption: %s", failed.Status, b)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m2 := backuptest.MustManager(t, jobs.Config{Run: run, StateDir: dir})
	got, err := m2.Get(ctx, sealed.ID)
	if err != nil || !reflect.DeepEqual(got.Encryption, want) {
		t.Fatalf("after reopen: %+v, %v", got.Encryption, err)
	}
	if got, err := m2.Get(ctx, plain.ID); err != nil || got.Encryption == nil || got.Encryption.Encrypted {
		t.Fatalf("plaintext job after reopen: %+v, %v", got.Encryption, err)
	}
}

// A state DB of schema 5 (before jobs.encryption) is migrated: its jobs
// keep their fields and say nothing about encryption (unknown), new jobs
// record it.
func TestStoreMigratesEncryptionColumn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{Run: quickRun, StateDir: dir})
	j, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	old := MustJobEnded(t, m, j.ID)
	MustLockFree(t, m)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := sqlite.OpenConn(filepath.Join(dir, jobs.StateDBFile), sqlite.OpenReadWrite|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	// Back to schema 5 as an older dockpack left it.
	for _, q := range []string{"ALTER TABLE jobs DROP COLUMN encryption", "PRAGMA user_version = 5"} {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			conn.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()

	plainRun := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		res, err := quickRun(ctx, spec, p)
		res.Manifest = &pack.Manifest{}
		return res, err
	}
	m2 := backuptest.MustManager(t, jobs.Config{Run: plainRun, StateDir: dir})
	got, err := m2.Get(ctx, old.ID)
	if err != nil || got.Encryption != nil || got.PackName == nil || *got.PackName != "migration_pack_quick" || got.Status != jobs.StatusCompleted {
		t.Fatalf("old job after migration: %+v, %v", got, err)
	}
	var f statedb.Facts
	mustRead(t, MustStateDB(t, dir), func(tx *statedb.Tx) error { f, err = tx.Facts(); return err })
	if f.UserVersion != jobs.SchemaVersion() || f.UserVersion < 6 {
		t.Fatalf("user_version %d, want %d", f.UserVersion, jobs.SchemaVersion())
	}
	j2, err := m2.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if got := MustJobEnded(t, m2, j2.ID); got.Encryption == nil || got.Encryption.Encrypted {
		t.Fatalf("new job after migration: encryption %+v, want encrypted false", got.Encryption)
	}
}
