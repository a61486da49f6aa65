package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// StateDBFile is the state database's file name inside ManagerConfig.StateDir.
const StateDBFile = "state.db"

// ErrStateDB marks a state database that cannot be opened or migrated.
var ErrStateDB = errors.New("state database unusable")

// migrations are the state DB's schema versions, applied in order; the DB's
// PRAGMA user_version is the number applied. Never edit a released entry:
// append a new one.
var migrations = []string{
	// 1: jobs, the lease lock, job log lines, stopped containers, settings.
	`
CREATE TABLE jobs (
	id                     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind                   TEXT    NOT NULL,
	status                 TEXT    NOT NULL,
	progress               INTEGER NOT NULL DEFAULT 0,
	message                TEXT,
	detail                 TEXT,
	output_dir             TEXT,
	package_hash           TEXT,
	created_at_ms          INTEGER NOT NULL,
	started_at_ms          INTEGER,
	finished_at_ms         INTEGER,
	cancel_requested_at_ms INTEGER,
	cancel_reason          TEXT,
	canceled_at_ms         INTEGER,
	verification_status    TEXT    NOT NULL DEFAULT 'not_verified',
	verification_detail    TEXT,
	verified_by            TEXT,
	verified_at_ms         INTEGER,
	last_restore_drill_id  TEXT,
	project                TEXT    NOT NULL DEFAULT '',
	components             TEXT    NOT NULL DEFAULT '[]',
	trigger                TEXT    NOT NULL DEFAULT 'manual',
	step                   TEXT,
	bytes_done             INTEGER NOT NULL DEFAULT 0,
	bytes_total            INTEGER NOT NULL DEFAULT 0,
	error_code             TEXT,
	heartbeat_at_ms        INTEGER,
	pack_name              TEXT,
	target                 TEXT    NOT NULL DEFAULT '',
	partial_dirs           TEXT    NOT NULL DEFAULT '[]',
	owner_token            TEXT    NOT NULL DEFAULT '',
	owner_host             TEXT    NOT NULL DEFAULT '',
	owner_pid              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_status ON jobs(status, id);

CREATE TABLE backup_locks (
	name           TEXT PRIMARY KEY CHECK (name = 'backup'),
	owner_token    TEXT    NOT NULL,
	job_id         INTEGER NOT NULL,
	host           TEXT    NOT NULL,
	pid            INTEGER NOT NULL,
	proc_start     TEXT    NOT NULL,
	acquired_at_ms INTEGER NOT NULL,
	renewed_at_ms  INTEGER NOT NULL,
	expires_at_ms  INTEGER NOT NULL
);

CREATE TABLE job_events (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id   INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	at_ms    INTEGER NOT NULL,
	level    TEXT    NOT NULL,
	message  TEXT    NOT NULL
);
CREATE INDEX job_events_by_job ON job_events(job_id, id);

CREATE TABLE job_stopped_containers (
	job_id          INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	container_id    TEXT    NOT NULL,
	name            TEXT    NOT NULL,
	recorded_at_ms  INTEGER NOT NULL,
	restarted_at_ms INTEGER,
	PRIMARY KEY (job_id, container_id)
);
CREATE INDEX job_stopped_pending ON job_stopped_containers(restarted_at_ms);

CREATE TABLE settings (
	key           TEXT PRIMARY KEY,
	value         TEXT    NOT NULL,
	updated_at_ms INTEGER NOT NULL
);

CREATE TABLE settings_changes (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms   INTEGER NOT NULL,
	fields  TEXT    NOT NULL,
	reason  TEXT    NOT NULL
);

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`,
	// 2: restore drills (RagFlowAuth's admin page lists them; body is the drill JSON).
	`
CREATE TABLE restore_drills (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	drill_id          TEXT    NOT NULL UNIQUE,
	job_id            INTEGER NOT NULL,
	executed_at_ms    INTEGER NOT NULL,
	acceptance_status TEXT    NOT NULL,
	result            TEXT    NOT NULL,
	body              TEXT    NOT NULL
);
CREATE INDEX restore_drills_by_job ON restore_drills(job_id, id);
`,
}

// SchemaVersion is the state DB schema version this build writes.
func SchemaVersion() int { return len(migrations) }

// store is the state DB: a pool of WAL connections with a busy timeout.
// Every transaction is short; reads never wait for a backup.
type store struct {
	pool *sqlitex.Pool
	path string
}

func openStore(ctx context.Context, dir string, busyTimeout time.Duration, poolSize int) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: create state dir %s: %v", ErrStateDB, dir, err)
	}
	path := filepath.Join(dir, StateDBFile)
	// Switching a new database to WAL fails at once (no busy handler) while
	// another process does the same: retry within the busy timeout.
	deadline := time.Now().Add(busyTimeout)
	for {
		pool, err := newPool(path, busyTimeout, poolSize)
		if err == nil {
			s := &store{pool: pool, path: path}
			if err := s.migrate(ctx); err != nil {
				pool.Close()
				return nil, err
			}
			return s, nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: open %s: %v", ErrStateDB, path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: open %s: %v", ErrStateDB, path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func newPool(path string, busyTimeout time.Duration, poolSize int) (*sqlitex.Pool, error) {
	return sqlitex.NewPool(path, sqlitex.PoolOptions{
		PoolSize: poolSize,
		PrepareConn: func(conn *sqlite.Conn) error {
			conn.SetBusyTimeout(busyTimeout)
			for _, p := range []string{"PRAGMA foreign_keys = ON", "PRAGMA synchronous = FULL"} {
				if err := sqlitex.ExecuteTransient(conn, p, nil); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

func (s *store) close() error { return s.pool.Close() }

// migrate applies the missing migrations, each in its own IMMEDIATE
// transaction that re-reads user_version (several processes may open the DB
// at once).
func (s *store) migrate(ctx context.Context) error {
	for {
		done := false
		err := s.write(ctx, func(conn *sqlite.Conn) error {
			v, err := userVersion(conn)
			if err != nil {
				return err
			}
			if v > len(migrations) {
				return fmt.Errorf("%w: %s has schema version %d, this dockpack knows up to %d: use a newer dockpack (or another state dir)",
					ErrStateDB, s.path, v, len(migrations))
			}
			if v == len(migrations) {
				done = true
				return nil
			}
			if err := sqlitex.ExecuteScript(conn, migrations[v], nil); err != nil {
				return fmt.Errorf("%w: migrate %s to schema version %d: %v", ErrStateDB, s.path, v+1, err)
			}
			return sqlitex.ExecuteTransient(conn, fmt.Sprintf("PRAGMA user_version = %d", v+1), nil)
		})
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func userVersion(conn *sqlite.Conn) (int, error) {
	var v int
	err := sqlitex.ExecuteTransient(conn, "PRAGMA user_version", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { v = stmt.ColumnInt(0); return nil },
	})
	return v, err
}

// read runs fn on a pooled connection (no transaction: each statement sees a
// consistent snapshot; use readTx for several).
func (s *store) read(ctx context.Context, fn func(conn *sqlite.Conn) error) error {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return fmt.Errorf("state db: %w", err)
	}
	defer s.pool.Put(conn)
	return fn(conn)
}

// readTx runs fn in a deferred (read) transaction: one snapshot.
func (s *store) readTx(ctx context.Context, fn func(conn *sqlite.Conn) error) (err error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return fmt.Errorf("state db: %w", err)
	}
	defer s.pool.Put(conn)
	end := sqlitex.Transaction(conn)
	defer end(&err)
	return fn(conn)
}

// write runs fn in a BEGIN IMMEDIATE transaction, committed when fn returns
// nil.
func (s *store) write(ctx context.Context, fn func(conn *sqlite.Conn) error) (err error) {
	conn, err := s.pool.Take(ctx)
	if err != nil {
		return fmt.Errorf("state db: %w", err)
	}
	defer s.pool.Put(conn)
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return fmt.Errorf("state db %s: begin write transaction: %w", s.path, err)
	}
	defer end(&err)
	return fn(conn)
}

func exec(conn *sqlite.Conn, query string, args ...any) error {
	return sqlitex.Execute(conn, query, &sqlitex.ExecOptions{Args: args})
}

func query(conn *sqlite.Conn, q string, row func(stmt *sqlite.Stmt) error, args ...any) error {
	return sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: args, ResultFunc: row})
}

// Nullable helpers: zombiezen binds a nil interface as NULL, but a typed nil
// pointer would be printed; convert explicitly.
func nstr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func nint(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func colStr(stmt *sqlite.Stmt, name string) *string {
	if i := stmt.ColumnIndex(name); i < 0 || stmt.ColumnIsNull(i) {
		return nil
	}
	s := stmt.GetText(name)
	return &s
}

func colInt(stmt *sqlite.Stmt, name string) *int64 {
	if i := stmt.ColumnIndex(name); i < 0 || stmt.ColumnIsNull(i) {
		return nil
	}
	v := stmt.GetInt64(name)
	return &v
}

func ptr[T any](v T) *T { return &v }

// jobColumns is the SELECT list every job read uses.
const jobColumns = `id, kind, status, progress, message, detail, output_dir, package_hash, created_at_ms,
	started_at_ms, finished_at_ms, cancel_requested_at_ms, cancel_reason, canceled_at_ms,
	verification_status, verification_detail, verified_by, verified_at_ms, last_restore_drill_id,
	project, components, trigger, step, bytes_done, bytes_total, error_code, heartbeat_at_ms, pack_name,
	target, partial_dirs, owner_token, owner_host, owner_pid`

// jobRow is a job with the columns that are not served.
type jobRow struct {
	Job
	Target      string
	PartialDirs []string
	OwnerToken  string
	OwnerHost   string
	OwnerPID    int
}

func scanJob(stmt *sqlite.Stmt) jobRow {
	j := jobRow{Job: Job{
		ID:                  stmt.GetInt64("id"),
		Kind:                stmt.GetText("kind"),
		Status:              Status(stmt.GetText("status")),
		Progress:            int(stmt.GetInt64("progress")),
		Message:             colStr(stmt, "message"),
		Detail:              colStr(stmt, "detail"),
		OutputDir:           colStr(stmt, "output_dir"),
		PackageHash:         colStr(stmt, "package_hash"),
		CreatedAtMs:         stmt.GetInt64("created_at_ms"),
		StartedAtMs:         colInt(stmt, "started_at_ms"),
		FinishedAtMs:        colInt(stmt, "finished_at_ms"),
		CancelRequestedAtMs: colInt(stmt, "cancel_requested_at_ms"),
		CancelReason:        colStr(stmt, "cancel_reason"),
		CanceledAtMs:        colInt(stmt, "canceled_at_ms"),
		VerificationStatus:  stmt.GetText("verification_status"),
		VerificationDetail:  colStr(stmt, "verification_detail"),
		VerifiedBy:          colStr(stmt, "verified_by"),
		VerifiedAtMs:        colInt(stmt, "verified_at_ms"),
		LastRestoreDrillID:  colStr(stmt, "last_restore_drill_id"),
		Project:             stmt.GetText("project"),
		Trigger:             stmt.GetText("trigger"),
		Step:                colStr(stmt, "step"),
		BytesDone:           stmt.GetInt64("bytes_done"),
		BytesTotal:          stmt.GetInt64("bytes_total"),
		ErrorCode:           colStr(stmt, "error_code"),
		HeartbeatAtMs:       colInt(stmt, "heartbeat_at_ms"),
		PackName:            colStr(stmt, "pack_name"),
	},
		Target:     stmt.GetText("target"),
		OwnerToken: stmt.GetText("owner_token"),
		OwnerHost:  stmt.GetText("owner_host"),
		OwnerPID:   int(stmt.GetInt64("owner_pid")),
	}
	_ = json.Unmarshal([]byte(stmt.GetText("components")), &j.Components)
	if j.Components == nil {
		j.Components = []pack.Component{}
	}
	_ = json.Unmarshal([]byte(stmt.GetText("partial_dirs")), &j.PartialDirs)
	return j
}

func getJob(conn *sqlite.Conn, id int64) (jobRow, error) {
	var j jobRow
	found := false
	err := query(conn, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, func(stmt *sqlite.Stmt) error {
		j = scanJob(stmt)
		found = true
		return nil
	}, id)
	if err != nil {
		return jobRow{}, fmt.Errorf("state db: read job %d: %w", id, err)
	}
	if !found {
		return jobRow{}, fmt.Errorf("%w: no backup job with id %d", ErrJobNotFound, id)
	}
	return j, nil
}

func listJobs(conn *sqlite.Conn, limit int, status Status) ([]jobRow, error) {
	var out []jobRow
	q := `SELECT ` + jobColumns + ` FROM jobs`
	args := []any{}
	if status != "" {
		q += ` WHERE status = ?`
		args = append(args, string(status))
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	err := query(conn, q, func(stmt *sqlite.Stmt) error {
		out = append(out, scanJob(stmt))
		return nil
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("state db: list jobs: %w", err)
	}
	return out, nil
}

const activeStatuses = `('queued', 'running', 'canceling')`

func insertJob(conn *sqlite.Conn, j jobRow) (int64, error) {
	comps, _ := json.Marshal(j.Components)
	err := exec(conn, `INSERT INTO jobs (kind, status, progress, message, created_at_ms, started_at_ms, verification_status,
		project, components, trigger, target, owner_token, owner_host, owner_pid, heartbeat_at_ms, step)
		VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.Kind, string(j.Status), nstr(j.Message), j.CreatedAtMs, nint(j.StartedAtMs), VerificationNotVerified,
		j.Project, string(comps), j.Trigger, j.Target, j.OwnerToken, j.OwnerHost, j.OwnerPID, nint(j.HeartbeatAtMs), nstr(j.Step))
	if err != nil {
		return 0, fmt.Errorf("state db: insert job: %w", err)
	}
	return conn.LastInsertRowID(), nil
}

// progressUpdate is what the job's persister writes while it runs.
type progressUpdate struct {
	Progress   int
	Step       string
	Message    string
	BytesDone  int64
	BytesTotal int64
}

// updateProgress writes progress fields of an active job; progress and bytes
// never go backwards in the DB either.
func updateProgress(conn *sqlite.Conn, id int64, token string, u progressUpdate) error {
	return exec(conn, `UPDATE jobs SET progress = MAX(progress, ?), step = ?, message = ?,
		bytes_done = MAX(bytes_done, ?), bytes_total = ?
		WHERE id = ? AND owner_token = ? AND status IN `+activeStatuses,
		u.Progress, u.Step, u.Message, u.BytesDone, u.BytesTotal, id, token)
}

// finalUpdate ends a job.
type finalUpdate struct {
	Status       Status
	Progress     int
	Message      string
	Detail       *string
	ErrorCode    *string
	OutputDir    *string
	PackageHash  *string
	PackName     *string
	Step         *string
	BytesDone    int64
	BytesTotal   int64
	FinishedAtMs int64
	CanceledAtMs *int64
}

// finishJob writes the final state of a job still active and still run by
// token; it reports whether it did (false: someone else — recovery after a
// takeover — already ended it, and that outcome is kept).
func finishJob(conn *sqlite.Conn, id int64, token string, f finalUpdate) (bool, error) {
	err := exec(conn, `UPDATE jobs SET status = ?, progress = MAX(progress, ?), message = ?, detail = ?, error_code = ?,
		output_dir = ?, package_hash = ?, pack_name = ?, step = COALESCE(?, step), bytes_done = MAX(bytes_done, ?),
		bytes_total = CASE WHEN ? > 0 THEN ? ELSE bytes_total END, finished_at_ms = ?, canceled_at_ms = ?
		WHERE id = ? AND owner_token = ? AND status IN `+activeStatuses,
		string(f.Status), f.Progress, f.Message, nstr(f.Detail), nstr(f.ErrorCode), nstr(f.OutputDir), nstr(f.PackageHash),
		nstr(f.PackName), nstr(f.Step), f.BytesDone, f.BytesTotal, f.BytesTotal, f.FinishedAtMs, nint(f.CanceledAtMs), id, token)
	if err != nil {
		return false, fmt.Errorf("state db: finish job %d: %w", id, err)
	}
	return conn.Changes() > 0, nil
}

func insertEvents(conn *sqlite.Conn, id int64, lines []LogLine, keep int) error {
	for _, l := range lines {
		if err := exec(conn, `INSERT INTO job_events (job_id, at_ms, level, message) VALUES (?, ?, ?, ?)`,
			id, l.AtMs, l.Level, l.Message); err != nil {
			return fmt.Errorf("state db: job %d log line: %w", id, err)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return exec(conn, `DELETE FROM job_events WHERE job_id = ? AND id <= (
		SELECT id FROM job_events WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, id, id, keep)
}

func jobEvents(conn *sqlite.Conn, id int64) ([]LogLine, error) {
	out := []LogLine{}
	err := query(conn, `SELECT at_ms, level, message FROM job_events WHERE job_id = ? ORDER BY id`, func(stmt *sqlite.Stmt) error {
		out = append(out, LogLine{AtMs: stmt.ColumnInt64(0), Level: stmt.ColumnText(1), Message: stmt.ColumnText(2)})
		return nil
	}, id)
	return out, err
}

// Settings key/value rows (value is JSON).

func readSettingsRows(conn *sqlite.Conn) (map[string]json.RawMessage, int64, error) {
	m := map[string]json.RawMessage{}
	var updated int64
	err := query(conn, `SELECT key, value, updated_at_ms FROM settings`, func(stmt *sqlite.Stmt) error {
		m[stmt.ColumnText(0)] = json.RawMessage(stmt.ColumnText(1))
		updated = max(updated, stmt.ColumnInt64(2))
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("state db: read settings: %w", err)
	}
	return m, updated, nil
}

func writeSetting(conn *sqlite.Conn, key string, value json.RawMessage, atMs int64) error {
	return exec(conn, `INSERT INTO settings (key, value, updated_at_ms) VALUES (?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms`, key, string(value), atMs)
}

func getMeta(conn *sqlite.Conn, key string) (string, bool, error) {
	var v string
	found := false
	err := query(conn, `SELECT value FROM meta WHERE key = ?`, func(stmt *sqlite.Stmt) error {
		v, found = stmt.ColumnText(0), true
		return nil
	}, key)
	return v, found, err
}

func setMeta(conn *sqlite.Conn, key, value string) error {
	return exec(conn, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
}

// isBusy reports whether err is SQLite's "database is locked" after the busy timeout.
func isBusy(err error) bool {
	c := sqlite.ErrCode(err)
	msg := fmt.Sprint(err)
	return c.ToPrimary() == sqlite.ResultBusy || strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}
