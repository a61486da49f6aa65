package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dockpack/dockpack/internal/owner"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// StateReader reads a state DB (<state dir>/state.db) without a Manager:
// read-only, with the busy timeout the daemon uses, never migrating and
// never running recovery, so it is safe while a daemon has the WAL database
// open. It is the StateSource of `dockpack doctor --state-dir`.
//
// The lock is judged by the rules of Manager.Lock as seen from outside the
// owning process: a lease is stale when it expired, or when its owner is on
// this host (same host name) and provably dead (ProcAlive). A lease of
// another host's (or another container's) process counts as live until it
// expires.
type StateReader struct {
	path string
	cfg  StateReaderOptions

	mu   sync.Mutex
	conn *sqlite.Conn
}

// StateReaderOptions configures OpenStateReader; zero values take the defaults.
type StateReaderOptions struct {
	// BusyTimeout is how long a read waits for a writer. Default 5s (the daemon's).
	BusyTimeout time.Duration
	// Host is this host's name for the liveness rule. Default os.Hostname().
	Host string
	// ProcAlive judges an owner on this host. Default ProcAlive.
	ProcAlive func(pid int, procStart string) bool
	// Now is the clock of lease expiry. Default time.Now.
	Now func() time.Time
}

// OpenStateReader opens <stateDir>/state.db read-only. A missing database
// is an error wrapping ErrStateDB and fs.ErrNotExist; a database of a newer
// schema than this build knows wraps ErrStateDB.
func OpenStateReader(ctx context.Context, stateDir string, o StateReaderOptions) (*StateReader, error) {
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.ProcAlive == nil {
		o.ProcAlive = owner.ProcAlive
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	path := filepath.Join(stateDir, StateDBFile)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w: no state database at %s: no daemon has run with this state dir (check --state-dir)", ErrStateDB, fs.ErrNotExist, path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrStateDB, path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s read-only: %v", ErrStateDB, path, err)
	}
	conn.SetBusyTimeout(o.BusyTimeout)
	if err := sqlitex.ExecuteTransient(conn, "PRAGMA query_only = ON", nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrStateDB, path, err)
	}
	v, err := userVersion(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: read the schema version of %s: %v", ErrStateDB, path, err)
	}
	switch {
	case v == 0:
		conn.Close()
		return nil, fmt.Errorf("%w: %s has no dockpack schema yet (a daemon creates it at its first start)", ErrStateDB, path)
	case v > SchemaVersion():
		conn.Close()
		return nil, fmt.Errorf("%w: %s has schema version %d, this dockpack knows up to %d: use the daemon's own dockpack binary", ErrStateDB, path, v, SchemaVersion())
	}
	return &StateReader{path: path, cfg: o, conn: conn}, nil
}

// Path is the state database's path.
func (r *StateReader) Path() string { return r.path }

// Close closes the database.
func (r *StateReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		return nil
	}
	err := r.conn.Close()
	r.conn = nil
	return err
}

func (r *StateReader) with(ctx context.Context, fn func(conn *sqlite.Conn) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		return fmt.Errorf("%w: %s: the reader is closed", ErrStateDB, r.path)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.conn.SetInterrupt(ctx.Done())
	defer r.conn.SetInterrupt(nil)
	return fn(r.conn)
}

// Lock reports the lock row, judged as described on StateReader.
func (r *StateReader) Lock(ctx context.Context) (LockInfo, error) {
	var l *lockRow
	if err := r.with(ctx, func(conn *sqlite.Conn) error {
		var err error
		l, err = readLock(conn)
		return err
	}); err != nil {
		return LockInfo{}, err
	}
	if l == nil {
		return LockInfo{}, nil
	}
	live, why := judgeForeignLease(l, r.cfg.Now(), r.cfg.Host, r.cfg.ProcAlive)
	return LockInfo{
		Held: live, JobID: l.JobID, OwnerToken: owner.ShortToken(l.OwnerToken), Host: l.Host, PID: l.PID,
		AcquiredAt: time.UnixMilli(l.AcquiredAtMs).UTC(), RenewedAt: time.UnixMilli(l.RenewedAtMs).UTC(),
		ExpiresAt: time.UnixMilli(l.ExpiresAtMs).UTC(), Stale: !live, StaleReason: why,
	}, nil
}

// judgeForeignLease is the lease rule for a lease the caller does not own (a
// reader, or a Manager looking at another process's lease): live until it
// expires, unless its owner is on this host and provably dead.
func judgeForeignLease(l *lockRow, now time.Time, host string, alive func(int, string) bool) (live bool, why string) {
	if now.UnixMilli() >= l.ExpiresAtMs {
		return false, fmt.Sprintf("the lease of job %d (%s) expired at %s", l.JobID, l.owner(),
			time.UnixMilli(l.ExpiresAtMs).UTC().Format(time.RFC3339Nano))
	}
	if l.Host == host && !alive(l.PID, l.ProcStart) {
		return false, fmt.Sprintf("the owner of job %d (%s) is not running any more (pid gone or reused)", l.JobID, l.owner())
	}
	return true, ""
}

// List returns jobs newest first (the stored state: live progress of a
// running job is as recent as its last persisted write). Limit is clamped to
// 1..200 (0: 30).
func (r *StateReader) List(ctx context.Context, o ListOptions) ([]Job, error) {
	limit := min(max(o.Limit, 1), 200)
	if o.Limit == 0 {
		limit = 30
	}
	var rows []jobRow
	if err := r.with(ctx, func(conn *sqlite.Conn) error {
		var err error
		rows, err = listJobs(conn, limit, o.Status)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]Job, 0, len(rows))
	for _, row := range rows {
		out = append(out, row.Job)
	}
	return out, nil
}

// Settings returns the stored settings over DefaultSettings (no derived
// statistics, no pinned fields: those are the daemon's configuration).
func (r *StateReader) Settings(ctx context.Context) (Settings, error) {
	var (
		rows    map[string]json.RawMessage
		updated int64
	)
	if err := r.with(ctx, func(conn *sqlite.Conn) error {
		var err error
		rows, updated, err = readSettingsRows(conn)
		return err
	}); err != nil {
		return Settings{}, err
	}
	s := settingsFrom(DefaultSettings(), rows)
	s.UpdatedAtMs = updated
	s.LocalBackupTargetPath = s.TargetLocalDir
	s.PinnedFields = []string{}
	return s, nil
}
