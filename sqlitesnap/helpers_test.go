package sqlitesnap_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// Every test database has accounts whose balances always sum to
// totalBalance (each writer transaction moves money between two accounts
// and appends to ledger) and a blobs table to make it bigger.
const (
	numAccounts  = 100
	totalBalance = numAccounts * 1000
)

// MustOpen opens path read-write with explicit flags (never zombiezen's
// default OpenWAL) and closes it in t.Cleanup.
func MustOpen(t testing.TB, path string) *sqlite.Conn {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { c.Close() }) })
	return c
}

// MustExec runs one statement.
func MustExec(t testing.TB, c *sqlite.Conn, query string, args ...any) {
	t.Helper()
	if err := sqlitex.ExecuteTransient(c, query, &sqlitex.ExecOptions{Args: args}); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// MustInt returns the first column of the first row.
func MustInt(t testing.TB, c *sqlite.Conn, query string) int64 {
	t.Helper()
	var v int64
	if err := sqlitex.ExecuteTransient(c, query, &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
		v = s.ColumnInt64(0)
		return nil
	}}); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

// MustText returns the first column of the first row.
func MustText(t testing.TB, c *sqlite.Conn, query string) string {
	t.Helper()
	var v string
	if err := sqlitex.ExecuteTransient(c, query, &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
		v = s.ColumnText(0)
		return nil
	}}); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

// MustDB creates a database at path in journal mode mode ("wal",
// "delete", ...) with numAccounts accounts and blobRows rows of 1000-byte
// blobs, and closes it.
func MustDB(t testing.TB, path, mode string, blobRows int) {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	MustExec(t, c, "PRAGMA journal_mode="+mode)
	script := `
CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE ledger(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER, at INTEGER);
CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB NOT NULL);
CREATE INDEX ledger_src ON ledger(src);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<:n)
  INSERT INTO accounts(id, balance) SELECT x, 1000 FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<:b)
  INSERT INTO blobs(b) SELECT randomblob(1000) FROM c WHERE :b > 0;
`
	if err := sqlitex.ExecuteScript(c, script, &sqlitex.ExecOptions{Named: map[string]any{":n": numAccounts, ":b": blobRows}}); err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
}

// MustTransfer runs one writer transaction: move amount from a to b and
// append a ledger row.
func MustTransfer(t testing.TB, c *sqlite.Conn, a, b, amount int) {
	t.Helper()
	if err := transfer(c, a, b, amount); err != nil {
		t.Fatalf("transfer: %v", err)
	}
}

func transfer(c *sqlite.Conn, a, b, amount int) (err error) {
	if err := sqlitex.ExecuteTransient(c, "BEGIN IMMEDIATE", nil); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			sqlitex.ExecuteTransient(c, "ROLLBACK", nil)
		}
	}()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE accounts SET balance = balance - ?1 WHERE id = ?2", []any{amount, a}},
		{"UPDATE accounts SET balance = balance + ?1 WHERE id = ?2", []any{amount, b}},
		{"INSERT INTO ledger(src, dst, amount, at) VALUES (?1, ?2, ?3, ?4)", []any{a, b, amount, time.Now().UnixNano()}},
	} {
		if err := sqlitex.ExecuteTransient(c, q.sql, &sqlitex.ExecOptions{Args: q.args}); err != nil {
			return err
		}
	}
	return sqlitex.ExecuteTransient(c, "COMMIT", nil)
}

// MustInvariant opens path and checks the balance sum; it returns the
// number of ledger rows.
func MustInvariant(t testing.TB, path string) int64 {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sum := MustInt(t, c, "SELECT sum(balance) FROM accounts"); sum != totalBalance {
		t.Fatalf("%s: sum(balance) = %d, want %d", path, sum, totalBalance)
	}
	return MustInt(t, c, "SELECT count(*) FROM ledger")
}

// MustHeader returns bytes 18 and 19 of the database header (1/1 rollback
// journal, 2/2 WAL).
func MustHeader(t testing.TB, path string) [2]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 100 {
		t.Fatalf("read header of %s: %v (len %d)", path, err, len(b))
	}
	return [2]byte{b[18], b[19]}
}

// MustSHA256 hashes a file.
func MustSHA256(t testing.TB, path string) string {
	t.Helper()
	sum, _, err := fsutil.HashFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// MustDirEntries lists dir's names, sorted.
func MustDirEntries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// MustCorruptPage overwrites page pgno (1-based) of the database at path
// with 0xFF bytes, which makes its b-tree page type invalid.
func MustCorruptPage(t testing.TB, path string, pgno int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for i := range page {
		page[i] = 0xFF
	}
	if _, err := f.WriteAt(page, (pgno-1)*4096); err != nil {
		t.Fatal(err)
	}
}

// MustLeafPage returns a page number of the blobs table that is not its
// root, so corrupting it leaves the schema readable.
func MustLeafPage(t testing.TB, path string) int64 {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// dbstat is compiled into modernc's SQLite.
	pg := MustInt(t, c, "SELECT max(pageno) FROM dbstat WHERE name = 'blobs' AND pagetype = 'leaf'")
	if pg < 3 {
		t.Fatalf("no leaf page found in %s", path)
	}
	return pg
}

// progressLog records progress reports (safe for the reporter's goroutine).
type progressLog struct {
	mu   sync.Mutex
	list []sqlitesnap.Progress
	at   []time.Time
}

func (l *progressLog) add(p sqlitesnap.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, p)
	l.at = append(l.at, time.Now())
}

func (l *progressLog) all() []sqlitesnap.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sqlitesnap.Progress(nil), l.list...)
}

// checkMonotonic fails unless, within every phase, Total stays the same
// and Done never goes backwards (a restarted backup would), phases come in
// the order given, and each ends with Done == Total.
func checkMonotonic(t testing.TB, ps []sqlitesnap.Progress, phases ...string) {
	t.Helper()
	var seen []string
	var last sqlitesnap.Progress
	for i, p := range ps {
		if i == 0 || p.Phase != last.Phase {
			if i > 0 && last.Done != last.Total {
				t.Errorf("phase %s ended at %d of %d", last.Phase, last.Done, last.Total)
			}
			seen = append(seen, p.Phase)
		} else {
			if p.Done < last.Done {
				t.Fatalf("progress went backwards in phase %s: %d after %d (report %d)", p.Phase, p.Done, last.Done, i)
			}
			if p.Total != last.Total {
				t.Fatalf("phase %s total changed: %d after %d", p.Phase, p.Total, last.Total)
			}
		}
		last = p
	}
	if len(ps) > 0 && last.Done != last.Total {
		t.Errorf("phase %s ended at %d of %d", last.Phase, last.Done, last.Total)
	}
	if len(seen) != len(phases) {
		t.Fatalf("phases %v, want %v", seen, phases)
	}
	for i := range seen {
		if seen[i] != phases[i] {
			t.Fatalf("phases %v, want %v", seen, phases)
		}
	}
}

// checkSteps fails unless the snapshot phase's distinct Done values are
// exactly 0, step, 2*step, ..., Total: every backup step copied new pages.
// A backup that SQLite restarts (because its source changed between steps)
// falls back to the first pages and never advances like this.
func checkSteps(t testing.TB, ps []sqlitesnap.Progress, step int64) {
	t.Helper()
	var seen []int64 // distinct Done values (a heartbeat repeats the latest)
	total := int64(-1)
	for _, p := range ps {
		if p.Phase != "snapshot" {
			continue
		}
		total = p.Total
		if len(seen) == 0 || p.Done != seen[len(seen)-1] {
			seen = append(seen, p.Done)
		}
	}
	for i, d := range seen {
		if want := min(int64(i)*step, total); d != want {
			t.Fatalf("snapshot progress: report %d says %d of %d pages, want %d: a step did not copy new pages (restarted?)", i, d, total, want)
		}
	}
	if len(seen) == 0 || seen[len(seen)-1] != total {
		t.Fatalf("snapshot progress %v never reached %d", seen, total)
	}
}

// dbFiles lists path and its companions that exist.
func dbFiles(path string) []string {
	var out []string
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}
