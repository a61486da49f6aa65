package jobs

import (
	"cmp"
	"context"
	"os"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/jobs/internal/lock"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/internal/owner"
)

// StateReader reads a state DB (<state dir>/state.db) without a Manager:
// read-only, with the busy timeout the daemon uses, never migrating and
// never running recovery, so it is safe while a daemon has the WAL database
// open. It is the StateSource of `dockpack doctor --state-dir`.
//
// The lock is judged by the rules of Manager.Lock as seen from outside the
// owning process: a lease is stale when it expired, or when its owner is on
// this host (same host name) and provably dead (owner.ProcAlive). A lease of
// another host's (or another container's) process counts as live until it
// expires.
type StateReader struct {
	db  *statedb.DB
	cfg StateReaderOptions
}

// StateReaderOptions configures OpenStateReader; zero values take the defaults.
type StateReaderOptions struct {
	// BusyTimeout is how long a read waits for a writer. Default 5s (the daemon's).
	BusyTimeout time.Duration
	// Host is this host's name for the liveness rule. Default os.Hostname().
	Host string
	// ProcAlive judges an owner on this host. Default owner.ProcAlive.
	ProcAlive func(pid int, procStart string) bool
	// Now is the clock of lease expiry. Default time.Now.
	Now func() time.Time
}

func (o *StateReaderOptions) applyDefaults() {
	o.BusyTimeout = cmp.Or(o.BusyTimeout, 5*time.Second)
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.ProcAlive == nil {
		o.ProcAlive = owner.ProcAlive
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// OpenStateReader opens <stateDir>/state.db read-only. A missing database
// is an error wrapping ErrStateDB and fs.ErrNotExist; a database of a newer
// schema than this build knows wraps ErrStateDB.
func OpenStateReader(ctx context.Context, stateDir string, o StateReaderOptions) (*StateReader, error) {
	o.applyDefaults()
	db, err := statedb.OpenReadOnly(ctx, stateDir, o.BusyTimeout)
	if err != nil {
		return nil, err
	}
	return &StateReader{db: db, cfg: o}, nil
}

// Path is the state database's path.
func (r *StateReader) Path() string { return r.db.Path() }

// Close closes the database.
func (r *StateReader) Close() error { return r.db.Close() }

// Lock reports the lock row, judged as described on StateReader.
func (r *StateReader) Lock(ctx context.Context) (LockInfo, error) {
	var l *statedb.Lock
	if err := r.db.Read(ctx, func(tx *statedb.Tx) error {
		var err error
		l, err = tx.Lock()
		return err
	}); err != nil || l == nil {
		return LockInfo{}, err
	}
	live, why := lock.Judge(l, r.cfg.Now(), r.cfg.Host, r.cfg.ProcAlive)
	return lock.InfoOf(l, live, why), nil
}

// List returns jobs newest first (the stored state: live progress of a
// running job is as recent as its last persisted write). Limit is clamped to
// 1..200 (0: 30).
func (r *StateReader) List(ctx context.Context, o ListOptions) ([]Job, error) {
	var out []Job
	err := r.db.Read(ctx, func(tx *statedb.Tx) error {
		rows, err := tx.Jobs(o.limit(), string(o.Status))
		for _, row := range rows {
			out = append(out, jobOf(row))
		}
		return err
	})
	return out, err
}

// Settings returns the stored settings over DefaultSettings (no derived
// statistics, no pinned fields: those are the daemon's configuration).
func (r *StateReader) Settings(ctx context.Context) (settings.Settings, error) {
	s, err := readSettings(ctx, r.db, settings.Default())
	if err != nil {
		return settings.Settings{}, err
	}
	s.LocalBackupTargetPath = s.TargetLocalDir
	s.PinnedFields = []string{}
	return s, nil
}
