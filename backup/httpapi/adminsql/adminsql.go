// Package adminsql decides whether a user is an administrator by a
// read-only query of the application's own SQLite database, for the
// handler's JWT authorization (httpapi.JWTOptions.IsAdmin): a valid access
// token says who the user is; the application's user table says what the
// user may do.
//
// The query returns at most one row; the user is an administrator when its
// first column is true (not NULL, 0, ” or '0'). Its parameters are bound
// by name — :sub (the token's subject), :now (the time in Unix
// milliseconds), :sid (the session id claim), :cid (the company id claim,
// ” when absent) — or by position (?1 sub, ?2 now, ?3 sid, ?4 cid).
// RagFlowQuery is RagFlowAuth's rule: users.role = 'admin' and the account
// not disabled or locked.
//
// The database is opened read-only (and PRAGMA query_only) for each lookup
// and closed at once: it is the live database a real restore replaces. As
// with the backup's snapshot, SQLite may leave the empty -wal and -shm
// files of a WAL database nobody else has open (they belong to its mode).
// Answers are cached for Options.CacheTTL; when the database cannot be
// read (e.g. while a real restore replaces it), an answer up to
// Options.StaleTTL old is used instead of failing.
package adminsql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"zombiezen.com/go/sqlite"
)

// RagFlowQuery is RagFlowAuth's admin rule (role 'admin', status active,
// credentials not locked, login not disabled), on its users table.
const RagFlowQuery = `SELECT 1 FROM users
WHERE user_id = :sub
  AND role = 'admin'
  AND (status IS NULL OR trim(status) = '' OR lower(trim(status)) = 'active')
  AND (credential_locked_until_ms IS NULL OR credential_locked_until_ms <= :now)
  AND (disable_login_enabled = 0 OR (disable_login_until_ms IS NOT NULL AND disable_login_until_ms <= :now))`

// RagFlowSchema is the part of RagFlowAuth's schema the queries read: its
// users and login sessions tables (branch 13485_latest,
// backend/database/schema/users.py and auth_sessions.py, trimmed to those
// tables). Tests build fixture databases with it.
const RagFlowSchema = `
CREATE TABLE users (
  user_id TEXT PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT 'viewer', company_id INTEGER, status TEXT NOT NULL DEFAULT 'active',
  idle_timeout_minutes INTEGER NOT NULL DEFAULT 120, max_login_sessions INTEGER NOT NULL DEFAULT 3,
  disable_login_enabled INTEGER NOT NULL DEFAULT 0, disable_login_until_ms INTEGER,
  credential_locked_until_ms INTEGER, created_at_ms INTEGER NOT NULL);
CREATE TABLE auth_login_sessions (
  session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, refresh_jti TEXT, created_at_ms INTEGER NOT NULL,
  last_activity_at_ms INTEGER NOT NULL, last_refresh_at_ms INTEGER, expires_at_ms INTEGER,
  revoked_at_ms INTEGER, revoked_reason TEXT);
`

// RagFlowSessionQuery is RagFlowQuery plus RagFlowAuth's session check: the
// token's login session (sid) must exist, belong to the user, not be
// revoked and not be expired (a logout then refuses the token).
const RagFlowSessionQuery = RagFlowQuery + `
  AND EXISTS (SELECT 1 FROM auth_login_sessions s
              WHERE s.session_id = :sid AND s.user_id = :sub AND s.revoked_at_ms IS NULL
                AND (s.expires_at_ms IS NULL OR s.expires_at_ms > :now))`

// Options configure New.
type Options struct {
	// DB is the application's database file. When empty, DBPath is asked
	// at each lookup (e.g. the daemon's auth_db_path setting).
	DB     string
	DBPath func(ctx context.Context) (string, error)
	// Query decides; default RagFlowQuery.
	Query string
	// BusyTimeout is how long a lookup waits for the application's write
	// lock. Default 2s.
	BusyTimeout time.Duration
	// CacheTTL is how long an answer is reused. Default 30s; negative: never.
	CacheTTL time.Duration
	// StaleTTL is how old an answer may be to stand in when the database
	// cannot be read. Default 10m; negative: never.
	StaleTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Subject is who a lookup is about: the verified claims of a token.
type Subject struct {
	ID        string // sub
	SessionID string // sid
	CompanyID string // cid
}

// Lookup answers IsAdmin; it is safe for concurrent use.
type Lookup struct {
	o     Options
	mu    sync.Mutex
	cache map[Subject]answer
}

type answer struct {
	admin bool
	at    time.Time
}

// ErrInvalid marks options New cannot work with.
var ErrInvalid = errors.New("invalid admin lookup")

// New checks the options: a database (or a way to find it) and one
// SELECT (or WITH) statement.
func New(o Options) (*Lookup, error) {
	if o.Query == "" {
		o.Query = RagFlowQuery
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 2 * time.Second
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 30 * time.Second
	}
	if o.StaleTTL == 0 {
		o.StaleTTL = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DB == "" && o.DBPath == nil {
		return nil, fmt.Errorf("%w: no database to look users up in", ErrInvalid)
	}
	if err := checkQuery(o.Query); err != nil {
		return nil, err
	}
	return &Lookup{o: o, cache: map[Subject]answer{}}, nil
}

// checkQuery checks the query's shape: one SELECT (or WITH) statement.
// Its tables and parameters are checked at the first lookup (the database
// may not exist yet when the daemon starts).
func checkQuery(q string) error {
	t := strings.ToUpper(strings.TrimSpace(q))
	if !strings.HasPrefix(t, "SELECT") && !strings.HasPrefix(t, "WITH") {
		return fmt.Errorf("%w: the query must be one SELECT statement: %.60q", ErrInvalid, q)
	}
	if i := strings.Index(strings.TrimRight(strings.TrimSpace(q), "; \t\n"), ";"); i >= 0 {
		return fmt.Errorf("%w: the query must be one statement (a ';' at byte %d)", ErrInvalid, i)
	}
	return nil
}

// IsAdmin reports whether s is an administrator.
func (l *Lookup) IsAdmin(ctx context.Context, s Subject) (bool, error) {
	now := l.o.Now()
	l.mu.Lock()
	cached, ok := l.cache[s]
	l.mu.Unlock()
	if ok && l.o.CacheTTL > 0 && now.Sub(cached.at) < l.o.CacheTTL {
		return cached.admin, nil
	}
	admin, err := l.query(ctx, s, now)
	if err != nil {
		if ok && l.o.StaleTTL > 0 && now.Sub(cached.at) < l.o.StaleTTL && ctx.Err() == nil {
			return cached.admin, nil
		}
		return false, err
	}
	l.mu.Lock()
	l.cache[s] = answer{admin: admin, at: now}
	if len(l.cache) > 10000 { // bounded: forget everything rather than grow
		clear(l.cache)
	}
	l.mu.Unlock()
	return admin, nil
}

// query runs the query once on a fresh read-only connection.
func (l *Lookup) query(ctx context.Context, s Subject, now time.Time) (bool, error) {
	path := l.o.DB
	if path == "" {
		var err error
		if path, err = l.o.DBPath(ctx); err != nil {
			return false, fmt.Errorf("adminsql: find the user database: %w", err)
		}
		if path == "" {
			return false, errors.New("adminsql: no user database is configured")
		}
	}
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		return false, fmt.Errorf("adminsql: open %s read-only: %w", path, err)
	}
	defer conn.Close()
	conn.SetBusyTimeout(l.o.BusyTimeout)
	conn.SetInterrupt(ctx.Done())
	if err := execTransient(conn, "PRAGMA query_only = ON"); err != nil {
		return false, fmt.Errorf("adminsql: %s: %w", path, err)
	}
	stmt, _, err := conn.PrepareTransient(l.o.Query)
	if err != nil {
		return false, fmt.Errorf("adminsql: prepare the admin query on %s: %w", path, err)
	}
	defer stmt.Finalize()
	if err := bind(stmt, s, now); err != nil {
		return false, err
	}
	row, err := stmt.Step()
	if err != nil {
		return false, fmt.Errorf("adminsql: run the admin query on %s: %w", path, err)
	}
	if !row || stmt.ColumnCount() == 0 || stmt.ColumnIsNull(0) {
		return false, nil
	}
	v := strings.TrimSpace(stmt.ColumnText(0))
	return v != "" && v != "0", nil
}

// bind sets the query's parameters by name or position.
func bind(stmt *sqlite.Stmt, s Subject, now time.Time) error {
	values := map[string]any{"sub": s.ID, "now": now.UnixMilli(), "sid": s.SessionID, "cid": s.CompanyID}
	byPos := []string{"sub", "now", "sid", "cid"}
	for i := 1; i <= stmt.BindParamCount(); i++ {
		name := strings.TrimLeft(stmt.BindParamName(i), ":@$")
		if name == "" || strings.HasPrefix(name, "?") {
			if i > len(byPos) {
				return fmt.Errorf("adminsql: the admin query has parameter %d; only ?1 (sub) ?2 (now) ?3 (sid) ?4 (cid) exist", i)
			}
			name = byPos[i-1]
		}
		switch v := values[name].(type) {
		case string:
			stmt.BindText(i, v)
		case int64:
			stmt.BindInt64(i, v)
		default:
			return fmt.Errorf("adminsql: the admin query's parameter %q is not one of :sub :now :sid :cid", stmt.BindParamName(i))
		}
	}
	return nil
}

func execTransient(conn *sqlite.Conn, q string) error {
	stmt, _, err := conn.PrepareTransient(q)
	if err != nil {
		return err
	}
	defer stmt.Finalize()
	_, err = stmt.Step()
	return err
}
