// Package statedb is the job system's state database: a SQLite file in WAL
// mode with a busy timeout, opened as a pool, migrated by PRAGMA
// user_version. It holds every SQL statement of the job system; the jobs
// package calls it inside short transactions (Read, ReadTx, Write) through a
// Tx. Reads never wait for a backup: a backup's writes are short.
package statedb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// File is the state database's file name inside the state dir.
const File = "state.db"

// ErrUnusable marks a state database that cannot be opened or migrated.
var ErrUnusable = errors.New("state database unusable")

// DB is the state database, as a pool of connections (Open) or one
// read-only connection (OpenReadOnly).
type DB struct {
	pool *sqlitex.Pool
	ro   *sqlite.Conn
	ron  chan struct{} // serializes use of ro
	path string
}

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// Open opens (creating and migrating) <dir>/state.db.
func Open(ctx context.Context, dir string, busyTimeout time.Duration, poolSize int) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: create state dir %s: %v", ErrUnusable, dir, err)
	}
	path := filepath.Join(dir, File)
	// Switching a new database to WAL fails at once (no busy handler) while
	// another process does the same: retry within the busy timeout.
	deadline := time.Now().Add(busyTimeout)
	for {
		pool, err := newPool(path, busyTimeout, poolSize)
		if err == nil {
			db := &DB{pool: pool, path: path}
			if err := db.migrate(ctx); err != nil {
				pool.Close()
				return nil, err
			}
			return db, nil
		}
		if !IsBusy(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: open %s: %v", ErrUnusable, path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: open %s: %v", ErrUnusable, path, ctx.Err())
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

// OpenReadOnly opens <dir>/state.db read-only (query_only), never creating
// or migrating it, so it is safe while a daemon has the database open. A
// missing database wraps ErrUnusable and fs.ErrNotExist; one of a newer
// schema than this build knows wraps ErrUnusable.
func OpenReadOnly(ctx context.Context, dir string, busyTimeout time.Duration) (*DB, error) {
	path := filepath.Join(dir, File)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w: no state database at %s: no daemon has run with this state dir (check --state-dir)", ErrUnusable, fs.ErrNotExist, path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnusable, path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s read-only: %v", ErrUnusable, path, err)
	}
	conn.SetBusyTimeout(busyTimeout)
	fail := func(err error) (*DB, error) {
		conn.Close()
		return nil, err
	}
	if err := sqlitex.ExecuteTransient(conn, "PRAGMA query_only = ON", nil); err != nil {
		return fail(fmt.Errorf("%w: %s: %v", ErrUnusable, path, err))
	}
	v, err := userVersion(conn)
	if err != nil {
		return fail(fmt.Errorf("%w: read the schema version of %s: %v", ErrUnusable, path, err))
	}
	switch {
	case v == 0:
		return fail(fmt.Errorf("%w: %s has no dockpack schema yet (a daemon creates it at its first start)", ErrUnusable, path))
	case v > SchemaVersion():
		return fail(fmt.Errorf("%w: %s has schema version %d, this dockpack knows up to %d: use the daemon's own dockpack binary", ErrUnusable, path, v, SchemaVersion()))
	}
	ron := make(chan struct{}, 1)
	return &DB{ro: conn, ron: ron, path: path}, nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.pool != nil {
		return db.pool.Close()
	}
	db.ron <- struct{}{}
	defer func() { <-db.ron }()
	if db.ro == nil {
		return nil
	}
	err := db.ro.Close()
	db.ro = nil
	return err
}

// conn takes a connection and returns its release.
func (db *DB) conn(ctx context.Context) (*sqlite.Conn, func(), error) {
	if db.pool != nil {
		conn, err := db.pool.Take(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("state db: %w", err)
		}
		return conn, func() { db.pool.Put(conn) }, nil
	}
	select {
	case db.ron <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if db.ro == nil {
		<-db.ron
		return nil, nil, fmt.Errorf("%w: %s: the database is closed", ErrUnusable, db.path)
	}
	return db.ro, func() { <-db.ron }, nil
}

// Read runs fn on a connection without a transaction: each statement sees a
// consistent snapshot (use ReadTx for several).
func (db *DB) Read(ctx context.Context, fn func(tx *Tx) error) error {
	conn, release, err := db.conn(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn(&Tx{conn: conn})
}

// ReadTx runs fn in a deferred (read) transaction: one snapshot.
func (db *DB) ReadTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	conn, release, err := db.conn(ctx)
	if err != nil {
		return err
	}
	defer release()
	end := sqlitex.Transaction(conn)
	defer end(&err)
	return fn(&Tx{conn: conn})
}

// Write runs fn in a BEGIN IMMEDIATE transaction, committed when fn returns nil.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) (err error) {
	conn, release, err := db.conn(ctx)
	if err != nil {
		return err
	}
	defer release()
	end, err := sqlitex.ImmediateTransaction(conn)
	if err != nil {
		return fmt.Errorf("state db %s: begin write transaction: %w", db.path, err)
	}
	defer end(&err)
	return fn(&Tx{conn: conn})
}

// migrate applies the missing migrations, each in its own IMMEDIATE
// transaction that re-reads user_version (several processes may open the DB
// at once).
func (db *DB) migrate(ctx context.Context) error {
	for {
		done := false
		err := db.Write(ctx, func(tx *Tx) error {
			v, err := userVersion(tx.conn)
			if err != nil {
				return err
			}
			if v > len(migrations) {
				return fmt.Errorf("%w: %s has schema version %d, this dockpack knows up to %d: use a newer dockpack (or another state dir)",
					ErrUnusable, db.path, v, len(migrations))
			}
			if v == len(migrations) {
				done = true
				return nil
			}
			if err := sqlitex.ExecuteScript(tx.conn, migrations[v], nil); err != nil {
				return fmt.Errorf("%w: migrate %s to schema version %d: %v", ErrUnusable, db.path, v+1, err)
			}
			return sqlitex.ExecuteTransient(tx.conn, fmt.Sprintf("PRAGMA user_version = %d", v+1), nil)
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

// IsBusy reports whether err is SQLite's "database is locked" after the busy timeout.
func IsBusy(err error) bool {
	c := sqlite.ErrCode(err)
	msg := fmt.Sprint(err)
	return c.ToPrimary() == sqlite.ResultBusy || strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}
