package sqlitesnap_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"

	"github.com/dockpack/dockpack/sqlitesnap"
)

func TestVersionAtLeast3513(t *testing.T) {
	v, err := sqlitesnap.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// modernc.org/sqlite >= v1.62.0 in go.mod: SQLite >= 3.51.3 (older
	// releases have the WAL-reset corruption bug).
	if !versionAtLeast(t, v, 3, 51, 3) {
		t.Fatalf("sqlite_version() = %s, want >= 3.51.3", v)
	}
	if v != sqlite.Version {
		t.Errorf("sqlite_version() = %s but the library says %s", v, sqlite.Version)
	}
	t.Logf("sqlite_version() = %s", v)
}

func versionAtLeast(t *testing.T, v string, want ...int) bool {
	parts := strings.Split(v, ".")
	for i, w := range want {
		if i >= len(parts) {
			return w == 0
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			t.Fatalf("version %q: %v", v, err)
		}
		if n != w {
			return n > w
		}
	}
	return true
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    sqlitesnap.Options
		bad  string
	}{
		{"zero", sqlitesnap.Options{}, ""},
		{"negative busy", sqlitesnap.Options{BusyTimeout: -1}, "BusyTimeout"},
		{"negative step", sqlitesnap.Options{PagesPerStep: -5}, "PagesPerStep"},
		{"negative interval", sqlitesnap.Options{ProgressInterval: -1}, "ProgressInterval"},
		{"bad check", sqlitesnap.Options{Check: 7}, "Check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.bad)
			}
			if _, serr := sqlitesnap.Snapshot(context.Background(), "x", "y", tc.o); serr == nil || serr.Error() != err.Error() {
				t.Fatalf("Snapshot did not validate: %v", serr)
			}
		})
	}
	for _, tc := range []struct {
		o   sqlitesnap.RestoreOptions
		bad string
	}{
		{sqlitesnap.RestoreOptions{}, ""},
		{sqlitesnap.RestoreOptions{BusyTimeout: -1}, "BusyTimeout"},
		{sqlitesnap.RestoreOptions{Check: 3}, "Check"},
		{sqlitesnap.RestoreOptions{ExpectSHA256: "abc"}, "ExpectSHA256"},
	} {
		err := tc.o.Validate()
		if (tc.bad == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("%+v: Validate() = %v, want error naming %q", tc.o, err, tc.bad)
		}
	}
}

// TestSnapshot covers a WAL and a rollback-journal source: the copy is one
// self-contained file with the source's content, checksummed and checked,
// and the source's journal mode is unchanged.
func TestSnapshot(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			dir, staging, out := t.TempDir(), t.TempDir(), t.TempDir()
			src := filepath.Join(dir, "auth.db")
			MustDB(t, src, mode, 300)
			// Leave committed data in the WAL, not yet checkpointed: a
			// writer connection stays open.
			w := MustOpen(t, src)
			MustTransfer(t, w, 1, 2, 10)
			before := MustHeader(t, src)
			wantRows := MustInvariant(t, src)

			var plog progressLog
			dst := filepath.Join(out, "auth.db")
			check := sqlitesnap.QuickCheck
			if mode == "delete" {
				check = sqlitesnap.IntegrityCheck
			}
			res, err := sqlitesnap.Snapshot(ctx, src, dst, sqlitesnap.Options{
				StagingDir: staging, Progress: plog.add, PagesPerStep: 16, ProgressInterval: time.Nanosecond, Check: check,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Check != "ok" || res.JournalMode != mode || res.PageSize != 4096 || res.PageCount < 80 {
				t.Fatalf("result %+v", res)
			}
			if v, _ := sqlitesnap.Version(ctx); res.SQLiteVersion != v {
				t.Errorf("SQLiteVersion %q, want %q", res.SQLiteVersion, v)
			}
			if res.SHA256 != MustSHA256(t, dst) {
				t.Errorf("SHA256 %s does not match the file", res.SHA256)
			}
			if st, _ := os.Stat(dst); st.Size() != res.Bytes || res.Bytes != res.PageCount*res.PageSize {
				t.Errorf("Bytes %d, file %d, pages*size %d", res.Bytes, st.Size(), res.PageCount*res.PageSize)
			}
			if res.Source != src || res.Dest != dst || res.SnapshotDuration <= 0 || res.CheckDuration <= 0 || res.CopyDuration <= 0 {
				t.Errorf("result %+v", res)
			}
			if h := MustHeader(t, dst); h != [2]byte{1, 1} {
				t.Errorf("copy header bytes 18/19 = %v, want 1/1 (self-contained, rollback journal)", h)
			}
			if h := MustHeader(t, src); h != before {
				t.Errorf("source header bytes 18/19 changed from %v to %v", before, h)
			}
			if got := MustText(t, w, "PRAGMA journal_mode"); got != mode {
				t.Errorf("source journal_mode now %q, want %q", got, mode)
			}
			if got := MustInvariant(t, dst); got != wantRows {
				t.Errorf("copy has %d ledger rows, want %d", got, wantRows)
			}
			if err := sqlitesnap.Check(ctx, dst, sqlitesnap.IntegrityCheck); err != nil {
				t.Fatal(err)
			}
			if got := MustDirEntries(t, out); len(got) != 1 || got[0] != "auth.db" {
				t.Errorf("destination directory holds %v, want only auth.db", got)
			}
			if got := MustDirEntries(t, staging); len(got) != 0 {
				t.Errorf("staging left %v", got)
			}
			ps := plog.all()
			checkMonotonic(t, ps, "snapshot", "check", "copy")
			checkSteps(t, ps, 16)
			if n := len(ps); n < int(res.PageCount/16) {
				t.Errorf("only %d progress reports for %d pages in 16-page steps", n, res.PageCount)
			}
		})
	}
}

// TestSnapshotWhileWriting: a writer commits as fast as it can during a
// slow (1 page per step) snapshot. The backup is never restarted (progress
// never goes backwards), the writer sees no error, and the copy keeps the
// invariant.
func TestSnapshotWhileWriting(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			src := filepath.Join(dir, "app.db")
			MustDB(t, src, mode, 100)
			w := MustOpen(t, src)
			w.SetBusyTimeout(time.Minute)

			stop := make(chan struct{})
			var commits, errs atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := transfer(w, 1+i%numAccounts, 1+(i*7)%numAccounts, 1+i%13); err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						return
					}
					commits.Add(1)
				}
			}()
			// Wait until the writer runs.
			for deadline := time.Now().Add(30 * time.Second); commits.Load() < 5; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) || errs.Load() > 0 {
					t.Fatalf("writer did not start: %v", firstErr.Load())
				}
			}
			var plog progressLog
			var atStart, atEnd int64
			var once sync.Once
			dst := filepath.Join(dir, "copy.db")
			res, err := sqlitesnap.Snapshot(ctx, src, dst, sqlitesnap.Options{
				StagingDir: dir, PagesPerStep: 1, ProgressInterval: time.Nanosecond,
				Progress: func(p sqlitesnap.Progress) {
					once.Do(func() { atStart = commits.Load() })
					if p.Phase == "snapshot" {
						// Pace the copy so the writer gets to commit during it
						// (in WAL mode; in rollback mode it waits): in WAL
						// mode the first step waits (bounded) for a commit, so
						// a loaded machine cannot starve the writer of the
						// window the assertion below is about.
						for deadline := time.Now().Add(10 * time.Second); mode == "wal" && commits.Load() == atStart && time.Now().Before(deadline); {
							time.Sleep(time.Millisecond)
						}
						time.Sleep(time.Millisecond)
						atEnd = commits.Load()
					}
					plog.add(p)
				},
			})
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if errs.Load() != 0 {
				t.Fatalf("writer errors: %d, first: %v", errs.Load(), firstErr.Load())
			}
			checkMonotonic(t, plog.all(), "snapshot", "check", "copy")
			checkSteps(t, plog.all(), 1)
			rows := MustInvariant(t, dst)
			t.Logf("%s: %d pages, writer committed %d during the copy phase (%d in total), copy has %d ledger rows",
				mode, res.PageCount, atEnd-atStart, commits.Load(), rows)
			if mode == "wal" && atEnd-atStart == 0 {
				t.Errorf("the WAL writer committed nothing during the snapshot")
			}
			if got := MustText(t, w, "PRAGMA journal_mode"); got != mode {
				t.Errorf("journal_mode %q, want %q", got, mode)
			}
		})
	}
}

// TestBackupWithoutReadTransactionRestarts is the control for the tests
// above: stepping SQLite's backup API WITHOUT holding a read transaction on
// the source, a write between steps makes SQLite restart the backup, so it
// never gets past its first step (this is the restart rule of
// https://sqlite.org/c3ref/backup_finish.html). checkSteps detects that.
func TestBackupWithoutReadTransactionRestarts(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src.db")
			MustDB(t, src, mode, 100)
			w := MustOpen(t, src)
			s, err := sqlite.OpenConn(src, sqlite.OpenReadOnly)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			d, err := sqlite.OpenConn(":memory:", sqlite.OpenReadWrite|sqlite.OpenMemory)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			b, err := sqlite.NewBackup(d, "main", s, "main")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ps := []sqlitesnap.Progress{{Phase: "snapshot", Done: 0}}
			for i := 0; i < 20; i++ {
				if _, err := b.Step(5); err != nil {
					t.Fatal(err)
				}
				ps = append(ps, sqlitesnap.Progress{Phase: "snapshot", Done: int64(b.PageCount() - b.Remaining()), Total: int64(b.PageCount())})
				MustTransfer(t, w, 1, 2, 1)
			}
			ps[0].Total = ps[1].Total
			if last := ps[len(ps)-1]; last.Done != 5 {
				t.Fatalf("after 20 steps of 5 pages with writes in between: %d of %d pages done; SQLite did not restart the backup", last.Done, last.Total)
			}
			ft := &fakeT{}
			done := make(chan struct{})
			go func() { defer close(done); checkSteps(ft, ps, 5) }() // Fatalf ends that goroutine
			<-done
			if !ft.failed {
				t.Fatal("checkSteps did not notice the restarts")
			}
			t.Logf("without a read transaction: %d/%d pages after 20 steps; checkSteps says: %s", ps[20].Done, ps[20].Total, ft.msg)
		})
	}
}

// fakeT records a helper's failure instead of failing the test.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestSnapshotFailures: nothing is written at dst (or beside it) and
// staging is empty for a source that is missing, not a database or
// corrupt, and for a bad destination.
func TestSnapshotFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, src string) (dst string)
		want  error
		msg   string
	}{
		{"missing", func(t *testing.T, src string) string { return "" }, sqlitesnap.ErrNotFound, "no such file"},
		{"text file", func(t *testing.T, src string) string {
			os.WriteFile(src, []byte(strings.Repeat("not a database\n", 1000)), 0o644)
			return ""
		}, sqlitesnap.ErrNotDatabase, "not an SQLite database"},
		{"directory", func(t *testing.T, src string) string {
			os.Mkdir(src, 0o755)
			return ""
		}, sqlitesnap.ErrNotDatabase, "not a regular file"},
		{"corrupt page", func(t *testing.T, src string) string {
			MustDB(t, src, "wal", 200)
			MustCorruptPage(t, src, MustLeafPage(t, src))
			return ""
		}, sqlitesnap.ErrCorrupt, "restore it from an older snapshot"},
		{"corrupt header", func(t *testing.T, src string) string {
			MustDB(t, src, "delete", 10)
			f, _ := os.OpenFile(src, os.O_RDWR, 0)
			f.WriteAt([]byte("SQLite format 2\x00"), 0)
			f.Close()
			return ""
		}, sqlitesnap.ErrNotDatabase, "header"},
		{"hot journal", func(t *testing.T, src string) string {
			// A crash mid-transaction: copy the database and its journal
			// while a transaction has spilled changes into the file.
			live := filepath.Join(t.TempDir(), "live.db")
			MustDB(t, live, "delete", 500)
			c := MustOpen(t, live)
			MustExec(t, c, "PRAGMA cache_size=5")
			MustExec(t, c, "BEGIN")
			MustExec(t, c, "UPDATE blobs SET b = randomblob(1000)")
			copyFile(t, live, src)
			copyFile(t, live+"-journal", src+"-journal")
			MustExec(t, c, "ROLLBACK")
			return ""
		}, nil, "hot journal"},
		{"dst is src", func(t *testing.T, src string) string {
			MustDB(t, src, "delete", 0)
			return src
		}, nil, "is the source"},
		{"dst dir missing", func(t *testing.T, src string) string {
			MustDB(t, src, "delete", 0)
			return filepath.Join(filepath.Dir(src), "nope", "x.db")
		}, nil, "create it first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, staging, out := t.TempDir(), t.TempDir(), t.TempDir()
			src := filepath.Join(dir, "src.db")
			dst := tc.setup(t, src)
			if dst == "" {
				dst = filepath.Join(out, "dst.db")
			}
			srcSum := ""
			if st, err := os.Stat(src); err == nil && st.Mode().IsRegular() {
				srcSum = MustSHA256(t, src)
			}
			_, err := sqlitesnap.Snapshot(ctx, src, dst, sqlitesnap.Options{StagingDir: staging})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
			t.Logf("error: %v", err)
			if got := MustDirEntries(t, out); len(got) != 0 {
				t.Errorf("destination directory holds %v", got)
			}
			if got := MustDirEntries(t, staging); len(got) != 0 {
				t.Errorf("staging left %v", got)
			}
			if srcSum != "" && MustSHA256(t, src) != srcSum {
				t.Errorf("the source was modified")
			}
			if tc.name == "hot journal" {
				if _, err := os.Stat(src + "-journal"); err != nil {
					t.Errorf("the hot journal is gone: %v", err)
				}
			}
		})
	}
}

// TestSnapshotBusy: a source held under an exclusive lock makes Snapshot
// wait BusyTimeout, then fail with ErrBusy; a lock released in time is
// waited for.
func TestSnapshotBusy(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			src := filepath.Join(dir, "busy.db")
			MustDB(t, src, mode, 10)
			h := MustOpen(t, src)
			if mode == "wal" {
				// A WAL database is only closed to readers by exclusive
				// locking mode.
				MustExec(t, h, "PRAGMA locking_mode=EXCLUSIVE")
			}
			MustExec(t, h, "BEGIN EXCLUSIVE")
			MustExec(t, h, "UPDATE accounts SET balance = balance WHERE id = 1")

			const timeout = 300 * time.Millisecond
			dst := filepath.Join(dir, "out.db")
			start := time.Now()
			_, err := sqlitesnap.Snapshot(ctx, src, dst, sqlitesnap.Options{StagingDir: dir, BusyTimeout: timeout})
			waited := time.Since(start)
			if !errors.Is(err, sqlitesnap.ErrBusy) {
				t.Fatalf("err = %v, want ErrBusy", err)
			}
			if waited < timeout {
				t.Errorf("gave up after %v, before the busy timeout %v", waited, timeout)
			}
			t.Logf("ErrBusy after %v: %v", waited, err)
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("dst exists after ErrBusy")
			}

			// Released while Snapshot waits: it goes on.
			released := make(chan struct{})
			go func() {
				defer close(released)
				time.Sleep(200 * time.Millisecond)
				// Closing releases every lock (a WAL connection in
				// exclusive locking mode can't go back to normal).
				h.Close()
			}()
			res, err := sqlitesnap.Snapshot(ctx, src, dst, sqlitesnap.Options{StagingDir: dir, BusyTimeout: time.Minute})
			<-released
			if err != nil {
				t.Fatal(err)
			}
			if res.JournalMode != mode {
				t.Errorf("journal mode %q", res.JournalMode)
			}
		})
	}
}

// TestSnapshotCancel cancels from the progress callback in each phase (and
// while waiting for a lock): the error is context.Canceled, nothing is left
// at dst, beside it or in staging, and the source is untouched.
func TestSnapshotCancel(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	MustDB(t, src, "wal", 2000) // ~2 MB: several 1 MiB copy chunks
	before := MustSHA256(t, src)
	for _, tc := range []struct {
		name   string
		cancel func(p sqlitesnap.Progress) bool
	}{
		{"snapshot at 50%", func(p sqlitesnap.Progress) bool {
			return p.Phase == "snapshot" && p.Done*2 >= p.Total && p.Done < p.Total
		}},
		{"check", func(p sqlitesnap.Progress) bool { return p.Phase == "check" && p.Done == 0 }},
		{"copy", func(p sqlitesnap.Progress) bool { return p.Phase == "copy" && p.Done > 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			staging, out := t.TempDir(), t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var canceledAt *sqlitesnap.Progress
			_, err := sqlitesnap.Snapshot(ctx, src, filepath.Join(out, "dst.db"), sqlitesnap.Options{
				StagingDir: staging, PagesPerStep: 8, ProgressInterval: time.Nanosecond,
				Progress: func(p sqlitesnap.Progress) {
					if canceledAt == nil && tc.cancel(p) {
						canceledAt = &p
						cancel()
					}
				},
			})
			if canceledAt == nil {
				t.Fatalf("the cancel point was never reached (err %v)", err)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			t.Logf("cancelled at %+v: %v", *canceledAt, err)
			if got := MustDirEntries(t, out); len(got) != 0 {
				t.Errorf("destination directory holds %v", got)
			}
			if got := MustDirEntries(t, staging); len(got) != 0 {
				t.Errorf("staging left %v", got)
			}
			if MustSHA256(t, src) != before {
				t.Errorf("source changed")
			}
		})
	}

	t.Run("waiting for a lock", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "locked.db")
		MustDB(t, src, "delete", 10)
		h := MustOpen(t, src)
		MustExec(t, h, "BEGIN EXCLUSIVE")
		ctx, cancel := context.WithCancel(context.Background())
		var canceled atomic.Int64
		time.AfterFunc(300*time.Millisecond, func() { canceled.Store(time.Now().UnixNano()); cancel() })
		_, err := sqlitesnap.Snapshot(ctx, src, filepath.Join(dir, "dst.db"), sqlitesnap.Options{StagingDir: dir, BusyTimeout: time.Minute})
		took := time.Since(time.Unix(0, canceled.Load()))
		if !errors.Is(err, context.Canceled) || errors.Is(err, sqlitesnap.ErrBusy) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		// The requirement: a cancel stops the snapshot within a second.
		if took > time.Second {
			t.Errorf("returned %v after the cancel, want <= 1s", took)
		}
		t.Logf("returned %v after the cancel", took)
		if got := MustDirEntries(t, dir); len(got) != 1 {
			t.Errorf("left %v", got)
		}
	})
}

// TestSnapshotGuardAndHeartbeat: Guard runs before the first byte and right
// before the rename; its error aborts the snapshot and removes the temp
// file. While a guard call blocks, the progress heartbeat keeps reporting.
func TestSnapshotGuardAndHeartbeat(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	MustDB(t, src, "wal", 50)
	boom := errors.New("mount moved")

	for _, failAt := range []int{1, 2} {
		t.Run("fail call "+strconv.Itoa(failAt), func(t *testing.T) {
			out := t.TempDir()
			calls := 0
			_, err := sqlitesnap.Snapshot(ctx, src, filepath.Join(out, "dst.db"), sqlitesnap.Options{
				StagingDir: dir,
				Guard: func(ctx context.Context) error {
					calls++
					if calls == failAt {
						return boom
					}
					return nil
				},
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want the guard's error", err)
			}
			if got := MustDirEntries(t, out); len(got) != 0 {
				t.Errorf("destination directory holds %v", got)
			}
		})
	}

	t.Run("heartbeat", func(t *testing.T) {
		var plog progressLog
		var blockedFrom, blockedTo time.Time
		calls := 0
		_, err := sqlitesnap.Snapshot(ctx, src, filepath.Join(t.TempDir(), "dst.db"), sqlitesnap.Options{
			StagingDir: dir, Progress: plog.add,
			Guard: func(ctx context.Context) error {
				calls++
				if calls == 2 { // the call right before the rename
					blockedFrom = time.Now()
					time.Sleep(1500 * time.Millisecond) // a stuck mount check
					blockedTo = time.Now()
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Errorf("guard called %d times for a small file, want 2 (first byte, before rename)", calls)
		}
		plog.mu.Lock()
		defer plog.mu.Unlock()
		beats := 0
		for _, at := range plog.at {
			if at.After(blockedFrom) && at.Before(blockedTo) {
				beats++
			}
		}
		if beats < 1 {
			t.Errorf("no progress report while the guard blocked for 1.5s")
		}
		t.Logf("%d heartbeat reports during a 1.5s block", beats)
	})
}

func TestSnapshotInsufficientSpace(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	MustDB(t, src, "delete", 100)
	defer sqlitesnap.SetFreeSpace(func(string) (uint64, error) { return 4096, nil })()
	staging := t.TempDir()
	_, err := sqlitesnap.Snapshot(context.Background(), src, filepath.Join(dir, "dst.db"), sqlitesnap.Options{StagingDir: staging})
	if !errors.Is(err, sqlitesnap.ErrInsufficientSpace) || !strings.Contains(err.Error(), staging) {
		t.Fatalf("err = %v, want ErrInsufficientSpace naming the staging dir", err)
	}
	t.Log(err)
	if got := MustDirEntries(t, staging); len(got) != 0 {
		t.Errorf("staging holds %v", got)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	MustDB(t, good, "wal", 100)
	bad := filepath.Join(dir, "bad.db")
	MustDB(t, bad, "delete", 200)
	MustCorruptPage(t, bad, MustLeafPage(t, bad))
	// A wrong freelist count in the header: the b-trees read fine, the
	// check lists the problem as output rows.
	freelist := filepath.Join(dir, "freelist.db")
	MustDB(t, freelist, "delete", 20)
	if f, err := os.OpenFile(freelist, os.O_RDWR, 0); err == nil {
		f.WriteAt([]byte{0, 0, 0, 9}, 36)
		f.Close()
	}
	text := filepath.Join(dir, "text")
	os.WriteFile(text, []byte(strings.Repeat("hello ", 1000)), 0o644)
	for _, tc := range []struct {
		path string
		mode sqlitesnap.CheckMode
		want error
	}{
		{good, sqlitesnap.QuickCheck, nil},
		{good, sqlitesnap.IntegrityCheck, nil},
		{bad, sqlitesnap.QuickCheck, sqlitesnap.ErrCorrupt},
		{bad, sqlitesnap.IntegrityCheck, sqlitesnap.ErrCorrupt},
		{freelist, sqlitesnap.QuickCheck, sqlitesnap.ErrCorrupt},
		{freelist, sqlitesnap.IntegrityCheck, sqlitesnap.ErrCorrupt},
		{text, sqlitesnap.QuickCheck, sqlitesnap.ErrNotDatabase},
		{filepath.Join(dir, "missing.db"), sqlitesnap.QuickCheck, sqlitesnap.ErrNotFound},
	} {
		t.Run(filepath.Base(tc.path)+"/"+tc.mode.String(), func(t *testing.T) {
			err := sqlitesnap.Check(ctx, tc.path, tc.mode)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if tc.path == freelist && !strings.Contains(err.Error(), "Freelist: size is 0 but should be 9") {
				t.Errorf("the error does not quote the check's output: %v", err)
			}
			if err != nil {
				t.Logf("%v", err)
			}
		})
	}
}
