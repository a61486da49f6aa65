//go:build integration

package integration_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/sqlitesnap"
)

const (
	ssMinSize    = 100 << 20 // the heavy tests' source databases
	ssWriterRate = 200       // transactions per second driven during a snapshot
	// ssStallSlack: a rollback-journal writer blocked by the snapshot's read
	// lock retries with SQLite's busy handler, which sleeps up to 100 ms
	// between attempts; add a normal transaction's duration and scheduling
	// on a loaded 2-core machine. Its longest stall may exceed the time the
	// lock was held by that much, never more.
	ssStallSlack = 250 * time.Millisecond
)

// TestSQLiteSnapshotUnderLoad snapshots a >= 100 MiB database, WAL and
// rollback-journal, while a writer runs at ~200 transactions/s, and checks
// on the same database: a consistent copy, the writer's errors and stalls,
// the source's journal mode, a cancel midway, Restore refusing a database in
// use (same process and a separate sqlite3 process) and then restoring, and
// a corrupt source.
func TestSQLiteSnapshotUnderLoad(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) { ssUnderLoad(t, mode) })
	}
}

func ssUnderLoad(t *testing.T, mode string) {
	ctx := ssCtx(t)
	dir, staging, out := t.TempDir(), t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "auth.db")
	ssBuildDB(t, src, mode, ssMinSize)
	header := ssHeader(t, src)

	w := ssStartWriter(t, src, ssWriterRate, 30*time.Second)
	w.WaitCommits(t, 50)
	rowsBefore := int64(w.Commits()) // ledger rows committed before the snapshot (at least)

	// The snapshot, paced by its progress callback (a seam: the callback
	// runs between backup steps with the read transaction open) so that it
	// lasts a few seconds and the writer runs throughout.
	dst := filepath.Join(out, "auth.db")
	var mu sync.Mutex
	var ps []sqlitesnap.Progress
	var snapFrom, snapTo time.Time
	var guardAt []int64 // bytes at dst's temp file when the guard ran
	res, err := sqlitesnap.Snapshot(ctx, src, dst, sqlitesnap.Options{
		StagingDir: staging, PagesPerStep: 64, ProgressInterval: time.Nanosecond,
		Guard: func(ctx context.Context) error {
			guardAt = append(guardAt, ssTempSize(out))
			return nil
		},
		Progress: func(p sqlitesnap.Progress) {
			mu.Lock()
			defer mu.Unlock()
			ps = append(ps, p)
			if p.Phase == "snapshot" {
				if snapFrom.IsZero() {
					snapFrom = time.Now()
				}
				snapTo = time.Now()
				if p.Done < p.Total {
					time.Sleep(7 * time.Millisecond)
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.WaitCommits(t, 50) // and it goes on afterwards
	rowsAfter := int64(w.Commits())
	mu.Lock()
	progress := append([]sqlitesnap.Progress(nil), ps...)
	mu.Unlock()

	t.Logf("snapshot: %d pages of %d B, %d MiB, source journal_mode=%s; phases: snapshot %v, check %v, copy %v",
		res.PageCount, res.PageSize, res.Bytes>>20, res.JournalMode,
		res.SnapshotDuration.Round(time.Millisecond), res.CheckDuration.Round(time.Millisecond), res.CopyDuration.Round(time.Millisecond))
	end := time.Now()
	t.Logf("writer (target %d tx/s) before the snapshot: %s", ssWriterRate, w.Window(w.start, snapFrom))
	t.Logf("writer during the copy phase (%v): %s", snapTo.Sub(snapFrom).Round(time.Millisecond), w.Window(snapFrom, snapTo))
	t.Logf("writer after the snapshot: %s", w.Window(snapTo, end))
	t.Logf("writer over the whole run: %s", w.Window(w.start, end))

	// Never restarted: within each phase progress only grows, totals fixed.
	ssCheckProgress(t, progress, 64)
	if errs := w.Errors(); len(errs) > 0 {
		t.Fatalf("the writer saw %d errors, first: %v", len(errs), errs[0])
	}
	switch mode {
	case "wal":
		// The writer went on during the whole copy: commits in each third.
		third := snapTo.Sub(snapFrom) / 3
		for i := 0; i < 3; i++ {
			from := snapFrom.Add(time.Duration(i) * third)
			if n := w.Window(from, from.Add(third)).Commits; n == 0 {
				t.Errorf("no writer commit in third %d of the copy phase", i+1)
			}
		}
	case "delete":
		// The read lock holds writers back for the copy; the writer waits
		// (busy timeout 30s) and its longest stall is bounded by the
		// snapshot's duration.
		all := w.Window(w.start, end)
		t.Logf("rollback writer: longest stall %v, snapshot-to-staging took %v", all.Max.Round(time.Millisecond), res.SnapshotDuration.Round(time.Millisecond))
		if all.Max > res.SnapshotDuration+ssStallSlack {
			t.Errorf("writer stalled %v, longer than the snapshot (%v) + %v", all.Max, res.SnapshotDuration, ssStallSlack)
		}
	}

	// The guard ran before the first byte, at least every 64 MiB, and
	// before the rename.
	t.Logf("guard ran with %v bytes in the temp file", guardAt)
	if len(guardAt) < 3 || guardAt[0] != 0 || guardAt[len(guardAt)-1] != res.Bytes {
		t.Errorf("guard calls at %v bytes; want 0, every 64 MiB, and %d before the rename", guardAt, res.Bytes)
	}
	for i := 1; i < len(guardAt); i++ {
		if guardAt[i]-guardAt[i-1] > sqlitesnap.GuardInterval+1<<20 {
			t.Errorf("guard calls %d bytes apart", guardAt[i]-guardAt[i-1])
		}
	}

	// The copy.
	if sum, _, err := fsutil.HashFile(ctx, dst); err != nil || sum != res.SHA256 {
		t.Fatalf("sha256 of %s = %s (%v), result says %s", dst, sum, err, res.SHA256)
	}
	if err := sqlitesnap.Check(ctx, dst, sqlitesnap.IntegrityCheck); err != nil {
		t.Fatalf("integrity_check of the copy: %v", err)
	}
	rows := ssInvariant(t, dst)
	if rows < rowsBefore || rows > rowsAfter {
		t.Errorf("copy has %d ledger rows; the writer had committed %d before and %d after", rows, rowsBefore, rowsAfter)
	}
	if h := ssHeader(t, dst); h != [2]byte{1, 1} {
		t.Errorf("copy header bytes 18/19 = %v, want 1/1", h)
	}
	if res.JournalMode != mode || res.Check != "ok" {
		t.Errorf("result journal mode %q check %q", res.JournalMode, res.Check)
	}
	ssNoFiles(t, staging, "staging")
	// The source's journal mode is unchanged.
	if h := ssHeader(t, src); h != header {
		t.Errorf("source header bytes 18/19 changed from %v to %v", header, h)
	}
	if jm := ssJournalMode(t, src); jm != mode {
		t.Errorf("source journal_mode is now %s, want %s", jm, mode)
	}

	t.Run("cancel midway", func(t *testing.T) {
		out := t.TempDir()
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var at sqlitesnap.Progress
		_, err := sqlitesnap.Snapshot(cctx, src, filepath.Join(out, "auth.db"), sqlitesnap.Options{
			StagingDir: staging, PagesPerStep: 256, ProgressInterval: time.Nanosecond,
			Progress: func(p sqlitesnap.Progress) {
				if at.Phase == "" && p.Phase == "snapshot" && 2*p.Done >= p.Total {
					at = p
					cancel()
				}
			},
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		t.Logf("cancelled at %d of %d pages: %v", at.Done, at.Total, err)
		ssNoFiles(t, out, "destination directory")
		ssNoFiles(t, staging, "staging")
		if errs := w.Errors(); len(errs) > 0 {
			t.Fatalf("writer errors: %v", errs)
		}
	})

	t.Run("restore refused while the writer runs", func(t *testing.T) {
		var before syscall.Stat_t
		syscall.Stat(src, &before)
		_, err := sqlitesnap.Restore(ctx, dst, src, sqlitesnap.RestoreOptions{StagingDir: staging, BusyTimeout: 500 * time.Millisecond})
		var iu *sqlitesnap.InUseError
		if !errors.Is(err, sqlitesnap.ErrInUse) || !errors.As(err, &iu) {
			t.Fatalf("err = %v, want ErrInUse", err)
		}
		t.Logf("refused: %v", err)
		if !ssHasHolder(iu, os.Getpid()) {
			t.Errorf("holders %v do not include this process", iu.Holders)
		}
		if mode == "wal" && iu.LockErr == nil {
			t.Errorf("a WAL database with an open writer granted the exclusive lock")
		}
		var after syscall.Stat_t
		syscall.Stat(src, &after)
		if after.Ino != before.Ino {
			t.Errorf("the source file was replaced")
		}
		ssNoFiles(t, staging, "staging")
	})

	w.Stop()
	if errs := w.Errors(); len(errs) > 0 {
		t.Fatalf("writer errors: %v", errs)
	}

	t.Run("restore refused while a separate process has it open", func(t *testing.T) {
		cli := ssStartCLI(t, src)
		if got := cli.Run(t, "SELECT count(*) FROM accounts;"); got != "1000" {
			t.Fatalf("sqlite3 says %q", got)
		}
		o := sqlitesnap.RestoreOptions{StagingDir: staging, BusyTimeout: 300 * time.Millisecond}
		_, err := sqlitesnap.Restore(ctx, dst, src, o)
		var iu *sqlitesnap.InUseError
		if !errors.As(err, &iu) || !errors.Is(err, sqlitesnap.ErrInUse) {
			t.Fatalf("idle sqlite3: err = %v, want ErrInUse", err)
		}
		t.Logf("idle sqlite3 (pid %d): %v", cli.PID(), err)
		if !ssHasHolder(iu, cli.PID()) {
			t.Errorf("holders %v do not include sqlite3 (pid %d)", iu.Holders, cli.PID())
		}
		// Across processes the lock tells the same story as in-process: a
		// WAL connection keeps a shared lock, an idle rollback one none.
		if (iu.LockErr != nil) != (mode == "wal") {
			t.Errorf("lock refused = %v for an idle %s connection in another process", iu.LockErr != nil, mode)
		}
		cli.Run(t, "BEGIN IMMEDIATE; UPDATE accounts SET balance = balance WHERE id = 1;")
		_, err = sqlitesnap.Restore(ctx, dst, src, o)
		if !errors.As(err, &iu) || iu.LockErr == nil {
			t.Fatalf("sqlite3 in a write transaction: err = %v, want ErrInUse with the lock refused", err)
		}
		t.Logf("sqlite3 in a write transaction: %v", err)
		cli.Run(t, "ROLLBACK;")
	})

	t.Run("restore", func(t *testing.T) {
		r, err := sqlitesnap.Restore(ctx, dst, src, sqlitesnap.RestoreOptions{StagingDir: staging, ExpectSHA256: res.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("restored %d MiB: stage %v, check %v, copy %v", r.Bytes>>20, r.SnapshotDuration.Round(time.Millisecond),
			r.CheckDuration.Round(time.Millisecond), r.CopyDuration.Round(time.Millisecond))
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Stat(src + suffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s%s still exists after the restore", src, suffix)
			}
		}
		if sum, _, _ := fsutil.HashFile(ctx, src); sum != res.SHA256 || r.SHA256 != sum {
			t.Errorf("restored sha256 %s, result %s, snapshot %s", sum, r.SHA256, res.SHA256)
		}
		if err := sqlitesnap.Check(ctx, src, sqlitesnap.IntegrityCheck); err != nil {
			t.Fatal(err)
		}
		if got := ssInvariant(t, src); got != rows {
			t.Errorf("restored database has %d ledger rows, the snapshot %d", got, rows)
		}
		ssNoFiles(t, staging, "staging")
	})

	t.Run("corrupt source", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "corrupt.db")
		ssCopyFile(t, src, bad)
		ssCorruptLeaf(t, bad)
		out := t.TempDir()
		_, err := sqlitesnap.Snapshot(ctx, bad, filepath.Join(out, "corrupt.db"), sqlitesnap.Options{StagingDir: staging})
		if !errors.Is(err, sqlitesnap.ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
		t.Logf("corrupt source: %v", err)
		ssNoFiles(t, out, "destination directory")
		ssNoFiles(t, staging, "staging")
	})
}

// TestSQLiteStagingTooSmall: a real tmpfs smaller than the source as
// staging fails before anything is copied.
func TestSQLiteStagingTooSmall(t *testing.T) {
	ctx := ssCtx(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "app.db")
	ssBuildDB(t, src, "wal", 4<<20)
	staging := MustTmpfs(t, 2<<20)
	out := t.TempDir()
	_, err := sqlitesnap.Snapshot(ctx, src, filepath.Join(out, "app.db"), sqlitesnap.Options{StagingDir: staging})
	if !errors.Is(err, sqlitesnap.ErrInsufficientSpace) || !strings.Contains(err.Error(), staging) {
		t.Fatalf("err = %v, want ErrInsufficientSpace naming %s", err, staging)
	}
	t.Log(err)
	ssNoFiles(t, staging, "staging")
	ssNoFiles(t, out, "destination directory")
}

func ssHasHolder(iu *sqlitesnap.InUseError, pid int) bool {
	for _, h := range iu.Holders {
		if h.PID == pid {
			return true
		}
	}
	return false
}

// ssCheckProgress fails unless the phases come in order, each ends
// complete with a fixed Total, and the snapshot phase's distinct Done
// values are exactly 0, step, 2*step, ..., Total: every backup step copied
// new pages. A backup restarted by SQLite (its source changed between
// steps) would fall back to its first pages instead.
func ssCheckProgress(t testing.TB, ps []sqlitesnap.Progress, step int64) {
	t.Helper()
	var phases []string
	var done []int64 // distinct snapshot-phase Done values
	for i, p := range ps {
		if i == 0 || p.Phase != ps[i-1].Phase {
			phases = append(phases, p.Phase)
			if i > 0 && ps[i-1].Done != ps[i-1].Total {
				t.Errorf("phase %s ended at %d of %d", ps[i-1].Phase, ps[i-1].Done, ps[i-1].Total)
			}
		} else if q := ps[i-1]; p.Done < q.Done || p.Total != q.Total {
			t.Fatalf("phase %s: %d/%d after %d/%d: the copy restarted or shrank", p.Phase, p.Done, p.Total, q.Done, q.Total)
		}
		if p.Phase == "snapshot" && (len(done) == 0 || done[len(done)-1] != p.Done) {
			done = append(done, p.Done)
		}
	}
	if got := strings.Join(phases, ","); got != "snapshot,check,copy" {
		t.Fatalf("phases %s", got)
	}
	total := ps[0].Total
	for i, d := range done {
		if want := min(int64(i)*step, total); d != want {
			t.Fatalf("snapshot step %d: %d of %d pages, want %d: a step copied no new pages (restarted?)", i, d, total, want)
		}
	}
	if done[len(done)-1] != total {
		t.Fatalf("snapshot progress stopped at %d of %d", done[len(done)-1], total)
	}
	t.Logf("%d backup steps of %d pages, each copying new pages: never restarted", len(done)-1, step)
}

// ---- helpers (prefix ss) ----

// The test databases: ssAccounts accounts whose balances always sum to
// ssTotal (every writer transaction moves an amount between two of them and
// appends a ledger row), plus blobs to reach the wanted size.
const (
	ssAccounts = 1000
	ssTotal    = ssAccounts * 1000
	ssBlobSize = 3900 // one row per 4 KiB page
)

// ssBuildDB creates a database of at least minBytes at path in journal
// mode mode, quickly: one transaction, no journal, no fsync while filling.
func ssBuildDB(t testing.TB, path, mode string, minBytes int64) {
	t.Helper()
	start := time.Now()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF"} {
		ssExec(t, c, p)
	}
	rows := minBytes/4096 + 64
	script := `
CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE ledger(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER, at INTEGER);
CREATE INDEX ledger_at ON ledger(at);
CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<:n)
  INSERT INTO accounts(id, balance) SELECT x, 1000 FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<:rows)
  INSERT INTO blobs(b) SELECT randomblob(:size) FROM c;
`
	if err := sqlitex.ExecuteScript(c, script, &sqlitex.ExecOptions{Named: map[string]any{":n": ssAccounts, ":rows": rows, ":size": ssBlobSize}}); err != nil {
		t.Fatalf("fill %s: %v", path, err)
	}
	ssExec(t, c, "PRAGMA journal_mode="+mode)
	if got := ssText(t, c, "PRAGMA journal_mode"); got != mode {
		t.Fatalf("journal_mode = %s, want %s", got, mode)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() < minBytes {
		t.Fatalf("%s: size %d, want >= %d (%v)", path, st.Size(), minBytes, err)
	}
	t.Logf("built %s: %d MiB, journal_mode=%s, in %v", path, st.Size()>>20, mode, time.Since(start).Round(time.Millisecond))
}

func ssExec(t testing.TB, c *sqlite.Conn, q string, args ...any) {
	t.Helper()
	if err := sqlitex.ExecuteTransient(c, q, &sqlitex.ExecOptions{Args: args}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func ssInt(t testing.TB, c *sqlite.Conn, q string) int64 {
	t.Helper()
	var v int64
	if err := sqlitex.ExecuteTransient(c, q, &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { v = s.ColumnInt64(0); return nil }}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func ssText(t testing.TB, c *sqlite.Conn, q string) string {
	t.Helper()
	var v string
	if err := sqlitex.ExecuteTransient(c, q, &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { v = s.ColumnText(0); return nil }}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// ssInvariant checks the balance sum of the database at path and returns
// its number of ledger rows.
func ssInvariant(t testing.TB, path string) int64 {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sum := ssInt(t, c, "SELECT sum(balance) FROM accounts"); sum != ssTotal {
		t.Fatalf("%s: sum(balance) = %d, want %d: the copy is not a consistent snapshot", path, sum, ssTotal)
	}
	return ssInt(t, c, "SELECT count(*) FROM ledger")
}

// ssHeader returns the database header's bytes 18/19.
func ssHeader(t testing.TB, path string) [2]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatal(err)
	}
	return [2]byte{h[18], h[19]}
}

// ssJournalMode asks a fresh connection for path's journal mode.
func ssJournalMode(t testing.TB, path string) string {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ssInt(t, c, "SELECT count(*) FROM sqlite_schema") // WAL is detected on the first read
	return ssText(t, c, "PRAGMA journal_mode")
}

// ssWriter drives transfer transactions at a fixed rate on its own
// connection and records every commit's latency and end time.
type ssWriter struct {
	rate  int
	conn  *sqlite.Conn
	start time.Time

	mu      sync.Mutex
	lat     []time.Duration
	ends    []time.Time
	errs    []error
	stopped bool

	stop chan struct{}
	done chan struct{}
}

// ssStartWriter opens path (explicit flags: never switches the journal
// mode) with the given busy timeout and starts transactions at rate per
// second. It is stopped in t.Cleanup if the test doesn't stop it.
func ssStartWriter(t testing.TB, path string, rate int, busy time.Duration) *ssWriter {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	c.SetBusyTimeout(busy)
	// The writer's durability is not under test, its locking is. WAL
	// writers commonly run with synchronous=NORMAL (no fsync per commit);
	// a rollback-journal commit fsyncs the journal and the database even
	// with NORMAL, and this VM's shared disk sustains only ~100 of those a
	// second, so that writer runs with OFF to reach the driven rate.
	level := "NORMAL"
	if ssText(t, c, "PRAGMA journal_mode") != "wal" {
		level = "OFF"
	}
	ssExec(t, c, "PRAGMA synchronous="+level)
	w := &ssWriter{rate: rate, conn: c, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.Stop)
	return w
}

func (w *ssWriter) run() {
	defer close(w.done)
	tick := time.NewTicker(time.Second / time.Duration(w.rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		a, b := 1+(i*7919)%ssAccounts, 1+(i*104729+1)%ssAccounts
		start := time.Now()
		err := w.transfer(a, b, 1+i%50)
		end := time.Now()
		w.mu.Lock()
		if err != nil {
			w.errs = append(w.errs, err)
		} else {
			w.lat = append(w.lat, end.Sub(start))
			w.ends = append(w.ends, end)
		}
		w.mu.Unlock()
	}
}

func (w *ssWriter) transfer(a, b, amount int) (err error) {
	c := w.conn
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

// Stop ends the writer and closes its connection (idempotent).
func (w *ssWriter) Stop() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	w.conn.Close()
}

// Commits is the number of commits so far.
func (w *ssWriter) Commits() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ends)
}

// WaitCommits polls until n more commits than now happened (deadline 30s).
func (w *ssWriter) WaitCommits(t testing.TB, n int) {
	t.Helper()
	want := w.Commits() + n
	for deadline := time.Now().Add(30 * time.Second); w.Commits() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("writer reached %d commits, want %d within 30s (errors: %v)", w.Commits(), want, w.Errors())
		}
	}
}

// Errors returns the writer's errors.
func (w *ssWriter) Errors() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]error(nil), w.errs...)
}

// ssWindow summarises the commits whose end falls in [from, to].
type ssWindow struct {
	Commits       int
	Rate          float64 // commits per second
	P50, P99, Max time.Duration
}

func (w *ssWriter) Window(from, to time.Time) ssWindow {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lat []time.Duration
	for i, e := range w.ends {
		if !e.Before(from) && !e.After(to) {
			lat = append(lat, w.lat[i])
		}
	}
	s := ssWindow{Commits: len(lat)}
	if d := to.Sub(from).Seconds(); d > 0 {
		s.Rate = float64(len(lat)) / d
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		s.P50, s.P99, s.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return s
}

func (s ssWindow) String() string {
	return fmt.Sprintf("%d commits, %.0f tx/s, latency p50 %v p99 %v max %v", s.Commits, s.Rate,
		s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Max.Round(10*time.Microsecond))
}

// ssCLI is the Debian sqlite3 shell holding a database open in a separate
// process (POSIX locks behave differently across processes).
type ssCLI struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// ssStartCLI starts /usr/bin/sqlite3 on path; it is stopped in t.Cleanup.
func ssStartCLI(t testing.TB, path string) *ssCLI {
	t.Helper()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skipf("the sqlite3 shell is not installed: %v", err)
	}
	cmd := exec.Command(bin, "-batch", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c := &ssCLI{cmd: cmd, in: in, out: bufio.NewReader(r)}
	t.Cleanup(func() {
		in.Close() // the shell exits at EOF
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		r.Close()
	})
	return c
}

// Run sends sql to the shell and returns its output up to a marker.
func (c *ssCLI) Run(t testing.TB, sql string) string {
	t.Helper()
	const marker = "__ss_done__"
	if _, err := fmt.Fprintf(c.in, "%s\n.print %s\n", sql, marker); err != nil {
		t.Fatal(err)
	}
	type res struct {
		out string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := c.out.ReadString('\n')
			if err != nil {
				ch <- res{b.String(), err}
				return
			}
			if strings.TrimSpace(line) == marker {
				ch <- res{b.String(), nil}
				return
			}
			b.WriteString(line)
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("sqlite3 shell: %v (output %q)", r.err, r.out)
		}
		return strings.TrimSpace(r.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("sqlite3 shell did not answer %q within 30s", sql)
	}
	return ""
}

func (c *ssCLI) PID() int { return c.cmd.Process.Pid }

// ssNoFiles fails if dir holds anything.
func ssNoFiles(t testing.TB, dir, what string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s %s holds %v, want nothing", what, dir, names)
	}
}

// ssCorruptLeaf overwrites a leaf page of the blobs table with 0xFF.
func ssCorruptLeaf(t testing.TB, path string) {
	t.Helper()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	pg := ssInt(t, c, "SELECT pageno FROM dbstat WHERE name = 'blobs' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 1000")
	c.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = 0xFF
	}
	if _, err := f.WriteAt(junk, (pg-1)*4096); err != nil {
		t.Fatal(err)
	}
}

// ssTempSize is the size of the dockpack temp file in dir (0 if none).
func ssTempSize(dir string) int64 {
	m, _ := filepath.Glob(filepath.Join(dir, fsutil.TempName+"*"))
	if len(m) != 1 {
		return 0
	}
	st, err := os.Stat(m[0])
	if err != nil {
		return 0
	}
	return st.Size()
}

// ssCopyFile copies a file (for building variants of a big database fast).
func ssCopyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func ssCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
