package sqlitesnap

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// readOnlyURI is the file: URI that opens path read-only. The path is
// escaped, so names with '?', '#' or '%' work.
func readOnlyURI(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}
	return u.String(), nil
}

// openReadOnly opens path with explicit flags: read-only, URI, and NOT
// OpenWAL (zombiezen's default flags run "PRAGMA journal_mode=wal", which
// would change the source's journal mode).
func openReadOnly(path string) (*sqlite.Conn, error) {
	uri, err := readOnlyURI(path)
	if err != nil {
		return nil, err
	}
	return sqlite.OpenConn(uri, sqlite.OpenReadOnly|sqlite.OpenURI)
}

// exec runs one statement, ignoring result rows.
func exec(c *sqlite.Conn, query string) error {
	return sqlitex.ExecuteTransient(c, query, nil)
}

// queryText runs a statement and returns the first column of every row.
func queryText(c *sqlite.Conn, query string) ([]string, error) {
	var out []string
	err := sqlitex.ExecuteTransient(c, query, &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error {
			out = append(out, s.ColumnText(0))
			return nil
		},
	})
	return out, err
}

// queryInt returns the first column of the first row as an integer.
func queryInt(c *sqlite.Conn, query string) (int64, error) {
	var v int64
	err := sqlitex.ExecuteTransient(c, query, &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error {
			v = s.ColumnInt64(0)
			return nil
		},
	})
	return v, err
}

// classify maps an SQLite error about path to this package's sentinels. op
// says what was being done ("open source", "read snapshot", ...). When ctx
// is done the error is reported as the cancellation.
func classify(ctx context.Context, err error, op, path string) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("sqlitesnap: %s %s: stopped: %w", op, path, cerr)
	}
	code := sqlite.ErrCode(err)
	switch code.ToPrimary() {
	case sqlite.ResultBusy, sqlite.ResultLocked:
		return fmt.Errorf("%w: %s %s: locked by another connection (%v); retry later or raise the busy timeout", ErrBusy, op, path, err)
	case sqlite.ResultCorrupt:
		return fmt.Errorf("%w: %s %s: SQLite reports the database disk image is malformed (%v); restore it from an older snapshot or try the sqlite3 .recover command", ErrCorrupt, op, path, err)
	case sqlite.ResultNotADB:
		return fmt.Errorf("%w: %s %s: the file has no valid SQLite header (%v); check the path", ErrNotDatabase, op, path, err)
	case sqlite.ResultFull:
		return fmt.Errorf("%w: %s %s: the disk is full (%v); free space or choose another directory", ErrInsufficientSpace, op, path, err)
	case sqlite.ResultReadOnly:
		switch code {
		case sqlite.ResultReadOnlyRollback:
			return fmt.Errorf("sqlitesnap: %s %s: it has a hot journal (a write transaction was interrupted) that a read-only connection may not roll back (%v); let the application (or the sqlite3 shell) open it once, then retry", op, path, err)
		case sqlite.ResultReadOnlyRecovery:
			return fmt.Errorf("sqlitesnap: %s %s: its WAL needs a recovery that a read-only connection may not run (%v); let the application (or the sqlite3 shell) open it once, then retry", op, path, err)
		}
	case sqlite.ResultCantOpen:
		if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
			return fmt.Errorf("%w: %s %s: no such file; check the path", ErrNotFound, op, path)
		}
	}
	return fmt.Errorf("sqlitesnap: %s %s: %w", op, path, err)
}

// isInterrupt reports whether err is SQLite's SQLITE_INTERRUPT.
func isInterrupt(err error) bool {
	return sqlite.ErrCode(err).ToPrimary() == sqlite.ResultInterrupt
}

// runCheck runs quick_check or integrity_check on c (the database at path)
// and returns nil only for the single row "ok".
func runCheck(ctx context.Context, c *sqlite.Conn, path string, mode CheckMode) error {
	// The argument limits the number of problems listed; we report the
	// first few anyway.
	pragma := fmt.Sprintf("PRAGMA %s(20)", mode)
	lines, err := queryText(c, pragma)
	if err != nil {
		return classify(ctx, err, "check", path)
	}
	if len(lines) == 1 && lines[0] == "ok" {
		return nil
	}
	if len(lines) > 5 {
		lines = append(lines[:5], "...")
	}
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return fmt.Errorf("%w: check %s: PRAGMA %s found problems: %s; restore it from an older snapshot or try the sqlite3 .recover command",
		ErrCorrupt, path, mode, strings.Join(lines, "; "))
}

// Check opens the database at path read-only and runs quick_check or
// integrity_check on it. It returns nil when the check says "ok",
// ErrCorrupt (with the first lines of the check's output) when it doesn't,
// ErrNotDatabase for a file that isn't an SQLite database and ErrNotFound
// for a missing file. Cancelling ctx interrupts the check.
func Check(ctx context.Context, path string, mode CheckMode) error {
	if !mode.valid() {
		return fmt.Errorf("sqlitesnap: check mode %v; use QuickCheck or IntegrityCheck", mode)
	}
	if err := statRegular(path, "check"); err != nil {
		return err
	}
	c, err := openReadOnly(path)
	if err != nil {
		return classify(ctx, err, "open", path)
	}
	defer c.Close()
	c.SetInterrupt(ctx.Done())
	return runCheck(ctx, c, path, mode)
}

// Version returns sqlite_version() of the SQLite linked into this program.
func Version(ctx context.Context) (string, error) {
	c, err := sqlite.OpenConn(":memory:", sqlite.OpenReadWrite|sqlite.OpenMemory)
	if err != nil {
		return "", fmt.Errorf("sqlitesnap: open in-memory database: %w", err)
	}
	defer c.Close()
	c.SetInterrupt(ctx.Done())
	v, err := queryText(c, "SELECT sqlite_version()")
	if err != nil {
		return "", classify(ctx, err, "query version", ":memory:")
	}
	if len(v) != 1 {
		return "", fmt.Errorf("sqlitesnap: SELECT sqlite_version() returned %d rows, want 1", len(v))
	}
	return v[0], nil
}

// statRegular returns ErrNotFound for a missing path and ErrNotDatabase for
// something that is not a regular file.
func statRegular(path, op string) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s %s: no such file; check the path", ErrNotFound, op, path)
	}
	if err != nil {
		return fmt.Errorf("sqlitesnap: %s %s: %w", op, path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s %s: not a regular file (mode %v)", ErrNotDatabase, op, path, st.Mode())
	}
	return nil
}
