package sqlitesnap_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/sqlitesnap"
)

// MustSnapshot makes a checked snapshot of a fresh database with blobRows
// rows and extra transfers, and returns its path and result.
func MustSnapshot(t *testing.T, dir, mode string, transfers int) (string, sqlitesnap.Result) {
	t.Helper()
	src := filepath.Join(dir, "snapsrc-"+mode+".db")
	MustDB(t, src, mode, 50)
	c := MustOpen(t, src)
	for i := 0; i < transfers; i++ {
		MustTransfer(t, c, 1, 3, 7)
	}
	snap := filepath.Join(dir, "snapshot.db")
	res, err := sqlitesnap.Snapshot(context.Background(), src, snap, sqlitesnap.Options{StagingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return snap, res
}

func copyFile(t testing.TB, from, to string) {
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

// TestRestoreRemovesStaleWAL: the old database left a -wal full of
// committed frames and a -shm (as after a crash). Restore removes them, so
// the restored file is exactly the snapshot and stays that way when opened.
func TestRestoreRemovesStaleWAL(t *testing.T) {
	ctx := context.Background()
	dir, staging := t.TempDir(), t.TempDir()
	snap, snapRes := MustSnapshot(t, dir, "wal", 5)

	// The old database: a WAL database with uncheckpointed commits, and
	// its files copied while the writer is open, like after a crash.
	live := filepath.Join(dir, "live.db")
	MustDB(t, live, "wal", 20)
	w := MustOpen(t, live)
	MustExec(t, w, "PRAGMA wal_autocheckpoint=0")
	for i := 0; i < 30; i++ {
		MustTransfer(t, w, 2, 4, 1)
	}
	appDir := t.TempDir()
	dst := filepath.Join(appDir, "auth.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		copyFile(t, live+suffix, dst+suffix)
	}
	os.Chmod(dst, 0o640)
	if st, _ := os.Stat(dst + "-wal"); st.Size() == 0 {
		t.Fatal("the stale -wal is empty; the test needs frames in it")
	}

	var plog progressLog
	res, err := sqlitesnap.Restore(ctx, snap, dst, sqlitesnap.RestoreOptions{StagingDir: staging, Progress: plog.add, ExpectSHA256: snapRes.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if got := dbFiles(dst); len(got) != 1 {
		t.Fatalf("after restore: %v, want only auth.db (no stale -wal/-shm)", got)
	}
	if sum := MustSHA256(t, dst); sum != snapRes.SHA256 || res.SHA256 != sum {
		t.Fatalf("restored sha256 %s, result %s, snapshot %s", sum, res.SHA256, snapRes.SHA256)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the replaced file's 0640", st.Mode().Perm())
	}
	if err := sqlitesnap.Check(ctx, dst, sqlitesnap.IntegrityCheck); err != nil {
		t.Fatal(err)
	}
	if rows := MustInvariant(t, dst); rows != 5 {
		t.Errorf("restored database has %d ledger rows, want the snapshot's 5 (a replayed stale WAL would add 30)", rows)
	}
	if res.Check != "ok" || res.JournalMode != "delete" || res.PageCount != snapRes.PageCount || res.Bytes != snapRes.Bytes {
		t.Errorf("result %+v", res)
	}
	checkMonotonic(t, plog.all(), "stage", "check", "copy")
	if got := MustDirEntries(t, appDir); len(got) != 1 {
		t.Errorf("app dir holds %v", got)
	}
	if got := MustDirEntries(t, staging); len(got) != 0 {
		t.Errorf("staging holds %v", got)
	}
	// Opened read-write, it is still the snapshot.
	c := MustOpen(t, dst)
	if n := MustInt(t, c, "SELECT count(*) FROM ledger"); n != 5 {
		t.Errorf("after open: %d ledger rows", n)
	}
}

func TestRestoreNewFile(t *testing.T) {
	dir := t.TempDir()
	snap, snapRes := MustSnapshot(t, dir, "delete", 2)
	os.Chmod(snap, 0o600)
	dst := filepath.Join(t.TempDir(), "new.db")
	res, err := sqlitesnap.Restore(context.Background(), snap, dst, sqlitesnap.RestoreOptions{StagingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != snapRes.SHA256 || MustSHA256(t, dst) != snapRes.SHA256 {
		t.Fatal("sha256 differs")
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the snapshot's 0600", st.Mode().Perm())
	}
}

// TestRestoreRefusesBadSnapshot: a corrupt snapshot, a wrong checksum or a
// file that isn't a database leave dst untouched.
func TestRestoreRefusesBadSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good, _ := MustSnapshot(t, dir, "delete", 1)
	corrupt := filepath.Join(dir, "corrupt.db")
	copyFile(t, good, corrupt)
	MustCorruptPage(t, corrupt, MustLeafPage(t, corrupt))
	text := filepath.Join(dir, "text.db")
	os.WriteFile(text, []byte(strings.Repeat("x", 9000)), 0o644)

	for _, tc := range []struct {
		name string
		snap string
		o    sqlitesnap.RestoreOptions
		want error
	}{
		{"corrupt", corrupt, sqlitesnap.RestoreOptions{}, sqlitesnap.ErrCorrupt},
		{"checksum", good, sqlitesnap.RestoreOptions{ExpectSHA256: strings.Repeat("0", 64)}, sqlitesnap.ErrCorrupt},
		{"not a database", text, sqlitesnap.RestoreOptions{}, sqlitesnap.ErrNotDatabase},
		{"missing", filepath.Join(dir, "missing.db"), sqlitesnap.RestoreOptions{}, sqlitesnap.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appDir := t.TempDir()
			dst := filepath.Join(appDir, "app.db")
			MustDB(t, dst, "wal", 5)
			before := MustSHA256(t, dst)
			tc.o.StagingDir = t.TempDir()
			_, err := sqlitesnap.Restore(ctx, tc.snap, dst, tc.o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Log(err)
			if MustSHA256(t, dst) != before {
				t.Errorf("dst changed")
			}
			if got := MustDirEntries(t, appDir); len(got) != 1 {
				t.Errorf("app dir holds %v", got)
			}
			if got := MustDirEntries(t, tc.o.StagingDir); len(got) != 0 {
				t.Errorf("staging holds %v", got)
			}
		})
	}
}

// TestRestoreInUse: a database held open by another connection of this
// process is refused with ErrInUse and left untouched; Force restores
// anyway; once the holder is gone Restore succeeds.
func TestRestoreInUse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	snap, snapRes := MustSnapshot(t, dir, "delete", 3)

	for _, tc := range []struct {
		name     string
		mode     string
		hold     func(t *testing.T, dst string) (release func())
		wantLock bool // the exclusive lock is refused (else only the fd scan sees it)
	}{
		{"wal idle connection", "wal", func(t *testing.T, dst string) func() {
			c := MustOpen(t, dst)
			MustInt(t, c, "SELECT count(*) FROM accounts")
			return func() { c.Close() }
		}, true},
		{"wal writer", "wal", func(t *testing.T, dst string) func() {
			c := MustOpen(t, dst)
			MustTransfer(t, c, 1, 2, 3)
			return func() { c.Close() }
		}, true},
		{"rollback open transaction", "delete", func(t *testing.T, dst string) func() {
			c := MustOpen(t, dst)
			MustExec(t, c, "BEGIN IMMEDIATE")
			MustExec(t, c, "UPDATE accounts SET balance = balance WHERE id = 1")
			return func() { MustExec(t, c, "ROLLBACK"); c.Close() }
		}, true},
		{"rollback idle connection", "delete", func(t *testing.T, dst string) func() {
			// Holds no lock between transactions: only the fd scan finds it.
			c := MustOpen(t, dst)
			MustTransfer(t, c, 1, 2, 3)
			return func() { c.Close() }
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appDir := t.TempDir()
			dst := filepath.Join(appDir, "app.db")
			MustDB(t, dst, tc.mode, 5)
			release := tc.hold(t, dst)
			before := MustSHA256(t, dst)
			beforeFiles := dbFiles(dst)
			o := sqlitesnap.RestoreOptions{StagingDir: t.TempDir(), BusyTimeout: 200 * time.Millisecond}

			_, err := sqlitesnap.Restore(ctx, snap, dst, o)
			var iu *sqlitesnap.InUseError
			if !errors.Is(err, sqlitesnap.ErrInUse) || !errors.As(err, &iu) {
				t.Fatalf("err = %v, want ErrInUse", err)
			}
			t.Log(err)
			if (iu.LockErr != nil) != tc.wantLock {
				t.Errorf("lock refused = %v, want %v", iu.LockErr != nil, tc.wantLock)
			}
			self := false
			for _, h := range iu.Holders {
				self = self || h.PID == os.Getpid()
			}
			if !self {
				t.Errorf("holders %v do not include this process (%d)", iu.Holders, os.Getpid())
			}
			if MustSHA256(t, dst) != before || strings.Join(dbFiles(dst), ",") != strings.Join(beforeFiles, ",") {
				t.Errorf("dst changed: %v -> %v", beforeFiles, dbFiles(dst))
			}
			if got := dbFiles(dst); len(MustDirEntries(t, appDir)) != len(got) {
				t.Errorf("temp files left: %v", MustDirEntries(t, appDir))
			}

			release()
			if _, err := sqlitesnap.Restore(ctx, snap, dst, o); err != nil {
				t.Fatalf("after the holder closed: %v", err)
			}
			if MustSHA256(t, dst) != snapRes.SHA256 || len(dbFiles(dst)) != 1 {
				t.Errorf("restore after release: files %v", dbFiles(dst))
			}
		})
	}

	t.Run("force", func(t *testing.T) {
		appDir := t.TempDir()
		dst := filepath.Join(appDir, "app.db")
		MustDB(t, dst, "wal", 5)
		c := MustOpen(t, dst)
		MustTransfer(t, c, 1, 2, 3)
		res, err := sqlitesnap.Restore(ctx, snap, dst, sqlitesnap.RestoreOptions{StagingDir: t.TempDir(), BusyTimeout: 100 * time.Millisecond, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.SHA256 != snapRes.SHA256 || MustSHA256(t, dst) != snapRes.SHA256 {
			t.Errorf("not restored")
		}
		if got := dbFiles(dst); len(got) != 1 {
			t.Errorf("files %v", got)
		}
	})
}

// TestProbeExclusive shows what the lock half of the in-use check can and
// cannot see (the reason for the /proc half).
func TestProbeExclusive(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		mode     string
		holder   bool
		wantBusy bool
	}{
		{"wal nobody", "wal", false, false},
		{"delete nobody", "delete", false, false},
		{"wal idle reader", "wal", true, true},
		{"delete idle reader", "delete", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "p.db")
			MustDB(t, dst, tc.mode, 5)
			if tc.holder {
				c := MustOpen(t, dst)
				MustInt(t, c, "SELECT count(*) FROM accounts")
			}
			busy, err := sqlitesnap.ProbeExclusive(ctx, dst, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if (busy != nil) != tc.wantBusy {
				t.Fatalf("busy = %v, want busy %v", busy, tc.wantBusy)
			}
			holders := sqlitesnap.Openers(dst)
			if (len(holders) > 0) != tc.holder {
				t.Fatalf("openers = %v, want holder %v", holders, tc.holder)
			}
		})
	}
}
