package sqlitesnap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"zombiezen.com/go/sqlite"
)

// InUseError is returned (wrapped) by Restore when the destination database
// is in use. errors.Is(err, ErrInUse) is true for it.
//
// Two independent signs are checked, because neither alone is enough:
//
//   - the exclusive lock: a connection is opened with
//     PRAGMA locking_mode=EXCLUSIVE and BEGIN EXCLUSIVE plus a read, with a
//     busy timeout. It fails while any connection, in any process or
//     container sharing the file, has a WAL database open (WAL connections
//     keep a shared lock for as long as they are open) or holds a
//     transaction on a rollback-journal database. An idle connection to a
//     rollback-journal database holds no lock at all, so this misses it.
//   - open files: /proc/*/fd is scanned for the database and its -wal, -shm
//     and -journal files (by device and inode). This finds idle holders,
//     including other connections of this very process, but only among
//     processes visible in this PID namespace and readable by this user.
type InUseError struct {
	Path string
	// LockErr is why the exclusive lock could not be taken (nil when it
	// was taken); Timeout is how long it was tried.
	LockErr error
	Timeout time.Duration
	// Holders are the processes found with the database's files open.
	Holders []Holder
}

// Holder is a process that has one of the database's files open.
type Holder struct {
	PID     int
	Command string // /proc/PID/comm
	File    string // which of the database's files
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d (%s) has %s open", h.PID, h.Command, h.File)
}

func (e *InUseError) Error() string {
	var why []string
	if e.LockErr != nil {
		why = append(why, fmt.Sprintf("no exclusive lock within %v (%v)", e.Timeout, e.LockErr))
	}
	for _, h := range e.Holders {
		why = append(why, h.String())
	}
	return fmt.Sprintf("sqlitesnap: database %s is in use: %s; stop the application using it, or pass Force to restore anyway (its open connections would keep writing to the replaced file)",
		e.Path, strings.Join(why, "; "))
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// companions are the files SQLite keeps beside a database.
func companions(db string) []string {
	return []string{db + "-wal", db + "-shm", db + "-journal"}
}

// checkInUse returns an *InUseError when the database at path is in use,
// nil when it is not (or does not exist), or another error when that could
// not be decided. The lock probe runs first and, when the lock is granted,
// its connection is closed again before the file scan (so the scan does not
// see it).
func checkInUse(ctx context.Context, path string, timeout time.Duration) error {
	e := &InUseError{Path: path, Timeout: timeout}
	if _, err := os.Stat(path); err == nil {
		busy, err := probeExclusive(ctx, path, timeout)
		if err != nil {
			return err
		}
		e.LockErr = busy
	}
	e.Holders = openers(append([]string{path}, companions(path)...))
	if e.LockErr != nil || len(e.Holders) > 0 {
		return e
	}
	return nil
}

// inUseGate returns the in-use error unless o.Force, in which case it is
// logged.
func inUseGate(ctx context.Context, dst string, o RestoreOptions, log *zap.Logger) error {
	err := checkInUse(ctx, dst, o.BusyTimeout)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	if o.Force {
		log.Warn("restoring although the database is in use (Force)", zap.Error(err))
		return nil
	}
	var iu *InUseError
	if errors.As(err, &iu) {
		return fmt.Errorf("sqlitesnap: restore to %s: %w", dst, err)
	}
	return fmt.Errorf("sqlitesnap: restore to %s: could not tell whether the database is in use: %w", dst, err)
}

// probeExclusive tries, for up to timeout, to take an exclusive lock on the
// database at path. It returns busy != nil when the lock was refused, err
// for anything that prevents the decision. A file that is not a (valid)
// database is not in use by SQLite: that gives (nil, nil).
//
// Side effects when the lock is granted are those of any connection that
// opens the file: a hot journal is rolled back, and closing a WAL database
// checkpoints it and deletes its -wal.
func probeExclusive(ctx context.Context, path string, timeout time.Duration) (busy, err error) {
	c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite) // no OpenWAL, no OpenCreate
	if err != nil {
		return nil, classify(ctx, err, "open for the in-use check", path)
	}
	defer c.Close()
	lockCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.SetInterrupt(lockCtx.Done())
	for _, q := range []string{
		"PRAGMA locking_mode=EXCLUSIVE",
		"BEGIN EXCLUSIVE",
		// The read makes a WAL database take its exclusive file lock.
		"SELECT count(*) FROM sqlite_schema",
	} {
		err := exec(c, q)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sqlitesnap: in-use check of %s: stopped: %w", path, ctx.Err())
		}
		if isBusy(err) || isInterrupt(err) {
			return err, nil
		}
		switch sqlite.ErrCode(err).ToPrimary() {
		case sqlite.ResultNotADB, sqlite.ResultCorrupt:
			return nil, nil
		}
		return nil, classify(ctx, err, "in-use check ("+q+") of", path)
	}
	_ = exec(c, "ROLLBACK")
	return nil, nil
}

// openers scans /proc for processes with any of paths open. Links are read
// first and only those naming one of the files' base names are stat'ed
// (stat of an unrelated file on a hung network mount could block); the
// final match is by device and inode, so it works across mount namespaces.
func openers(paths []string) []Holder {
	type devIno struct{ dev, ino uint64 }
	want := map[devIno]string{}
	var bases []string
	for _, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			want[devIno{st.Dev, st.Ino}] = p
			bases = append(bases, filepath.Base(p))
		}
	}
	if len(want) == 0 {
		return nil
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Holder
	for _, pe := range procs {
		pid, err := strconv.Atoi(pe.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", pe.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or not ours to read
		}
		seen := map[string]bool{}
		for _, fe := range fds {
			link := filepath.Join(fdDir, fe.Name())
			target, err := os.Readlink(link)
			if err != nil || !mentionsAny(target, bases) {
				continue
			}
			var st unix.Stat_t
			if unix.Stat(link, &st) != nil {
				continue
			}
			if p, ok := want[devIno{st.Dev, st.Ino}]; ok && !seen[p] {
				seen[p] = true
				out = append(out, Holder{PID: pid, Command: comm(pid), File: p})
			}
		}
	}
	return out
}

func mentionsAny(s string, subs []string) bool {
	for _, b := range subs {
		if strings.Contains(s, b) {
			return true
		}
	}
	return false
}

func comm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// removeStale deletes the -wal, -shm and -journal files of the database at
// path and returns the ones it removed.
func removeStale(path string) ([]string, error) {
	var removed []string
	for _, p := range companions(path) {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = append(removed, p)
		case errors.Is(err, os.ErrNotExist):
		default:
			return removed, fmt.Errorf("sqlitesnap: remove stale %s: %w; remove it by hand before using the restored database", p, err)
		}
	}
	return removed, nil
}
