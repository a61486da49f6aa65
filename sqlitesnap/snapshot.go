package sqlitesnap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"zombiezen.com/go/sqlite"
)

// Snapshot copies the SQLite database at src to dst consistently while
// other connections may be writing to it:
//
//  1. src is opened read-only (never changing its journal mode) and one
//     read transaction is opened on it, waiting up to o.BusyTimeout for a
//     lock held by another connection (then ErrBusy);
//  2. with that transaction open for the whole copy, the backup API copies
//     o.PagesPerStep pages per step into a fresh file in a private
//     directory under o.StagingDir, checking ctx and reporting progress
//     between steps (the backup is never restarted by concurrent writers:
//     they can't change what an open read transaction sees);
//  3. the staged copy is switched to journal_mode=DELETE (a WAL source's
//     header says WAL; the copy must be one self-contained file) and
//     fsynced, then checked with o.Check (ErrCorrupt when not "ok");
//  4. it is stream-copied to a temp name beside dst while its sha256 is
//     computed, fsynced, renamed to dst and the directory fsynced.
//
// The staging directory is removed in every case; when Snapshot fails or ctx
// is cancelled (which stops it within a second) nothing is left at dst or
// beside it. Free space of the staging and destination directories is
// checked against the source's size (database + WAL) before starting.
func Snapshot(ctx context.Context, src, dst string, o Options) (res Result, err error) {
	if err := prepare(&o, &res, src, dst, "snapshot source"); err != nil {
		return res, err
	}
	src, dst = res.Source, res.Dest
	perm := os.FileMode(0o600)
	if st, serr := os.Stat(src); serr == nil {
		perm = st.Mode().Perm()
	}
	destSpace := func(need int64) error { return needSpace(filepath.Dir(dst), "destination", need) }
	return snapshot(ctx, src, o, res, destSpace, func(staged string, rep *reporter) (int64, string, error) {
		out, err := copyToTemp(ctx, nil, staged, dst, perm, nil, o.Guard, rep, "copy")
		if err != nil {
			return 0, "", err
		}
		if err := commitTemp(ctx, out.tmp, dst, o.Guard); err != nil {
			return 0, "", err
		}
		return out.bytes, out.sha256, nil
	})
}

// SnapshotTo is Snapshot writing the checked snapshot to w instead of a
// path: the caller writes it through its own handle (the backup pipeline
// writes through the pinned directory of its pack, so a share that drops can
// never redirect the bytes) and makes it durable. Result.Dest is empty.
// o.Guard is called as for Snapshot. Nothing is written to w for a source
// that is missing, not a database, corrupt or cancelled before the copy.
func SnapshotTo(ctx context.Context, src string, w io.Writer, o Options) (res Result, err error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return res, err
	}
	if res.Source, err = filepath.Abs(src); err != nil {
		return res, err
	}
	if err := statRegular(res.Source, "snapshot source"); err != nil {
		return res, err
	}
	return snapshot(ctx, res.Source, o, res, nil, func(staged string, rep *reporter) (int64, string, error) {
		return streamCopy(ctx, nil, staged, w, o.Guard, rep, "copy")
	})
}

// snapshot stages src, checks the staged copy and hands it to deliver
// (which copies it to its destination and returns its size and sha256).
// destSpace, when set, checks the destination's free space for need bytes
// (after the staging directory's).
func snapshot(ctx context.Context, src string, o Options, res Result, destSpace func(need int64) error,
	deliver func(staged string, rep *reporter) (int64, string, error)) (_ Result, err error) {
	log := o.Logger.With(zap.String("source", src), zap.String("dest", res.Dest))
	stagingRoot := stagingRootOf(o.StagingDir)
	need := fileSize(src) + fileSize(src+"-wal")
	if err := needSpace(stagingRoot, "staging", need); err != nil {
		return res, err
	}
	if destSpace != nil {
		if err := destSpace(need); err != nil {
			return res, err
		}
	}
	stageDir, err := newStagingDir(stagingRoot, o.Owner)
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(stageDir); rerr != nil {
			log.Warn("removing the staging directory failed", zap.String("dir", stageDir), zap.Error(rerr))
			if err == nil {
				err = fmt.Errorf("sqlitesnap: remove staging directory %s: %w", stageDir, rerr)
			}
		}
	}()
	staged := filepath.Join(stageDir, filepath.Base(src))

	rep := newReporter(o.Progress, o.ProgressInterval)
	defer rep.close()

	t0 := time.Now()
	if err := snapshotToStaging(ctx, src, staged, o, rep, log, &res); err != nil {
		return res, err
	}
	res.SnapshotDuration = time.Since(t0)
	log.Debug("snapshot staged", zap.Int64("pages", res.PageCount), zap.Duration("took", res.SnapshotDuration))

	t0 = time.Now()
	rep.update(Progress{Phase: "check", Total: res.PageCount, Unit: "pages"}, true)
	if err := Check(ctx, staged, o.Check); err != nil {
		return res, fmt.Errorf("sqlitesnap: snapshot of %s: %w", src, err)
	}
	res.Check = "ok"
	res.CheckDuration = time.Since(t0)
	rep.update(Progress{Phase: "check", Done: res.PageCount, Total: res.PageCount, Unit: "pages"}, true)

	t0 = time.Now()
	if res.Bytes, res.SHA256, err = deliver(staged, rep); err != nil {
		return res, err
	}
	res.CopyDuration = time.Since(t0)
	log.Info("sqlite snapshot written", zap.Int64("bytes", res.Bytes), zap.String("sha256", res.SHA256),
		zap.String("journal_mode", res.JournalMode), zap.Duration("snapshot", res.SnapshotDuration),
		zap.Duration("check", res.CheckDuration), zap.Duration("copy", res.CopyDuration))
	return res, nil
}

// options are Options and RestoreOptions.
type options interface {
	applyDefaults()
	Validate() error
}

// prepare applies o's defaults, validates it and resolves the paths (see
// resolvePaths).
func prepare(o options, res *Result, src, dst, what string) error {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	return resolvePaths(res, src, dst, what)
}

// resolvePaths sets res.Source and res.Dest to the absolute src and dst and
// checks that src is a regular file (what names it in errors) and dst a
// usable destination.
func resolvePaths(res *Result, src, dst, what string) error {
	var err error
	if res.Source, err = filepath.Abs(src); err != nil {
		return err
	}
	if res.Dest, err = filepath.Abs(dst); err != nil {
		return err
	}
	if err := statRegular(res.Source, what); err != nil {
		return err
	}
	return checkDest(res.Source, res.Dest)
}

// prepareRestore is prepare for Restore: with o.Open, the snapshot is a
// regular file as Open sees it.
func prepareRestore(o *RestoreOptions, res *Result, snapshot, dst string) error {
	if o.Open == nil {
		return prepare(o, res, snapshot, dst, "restore snapshot")
	}
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	res.Source = snapshot
	var err error
	if res.Dest, err = filepath.Abs(dst); err != nil {
		return err
	}
	fi, err := o.Open.stat(snapshot)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: restore snapshot %s: %v", ErrNotFound, snapshot, err)
	case err != nil:
		return fmt.Errorf("sqlitesnap: restore snapshot %s: %w", snapshot, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: restore snapshot %s is not a regular file", ErrNotFound, snapshot)
	}
	return checkDest(res.Source, res.Dest)
}

// stagingRootOf is the staging root of a StagingDir option: dir, or
// os.TempDir() when empty (resolved at use: it reads $TMPDIR).
func stagingRootOf(dir string) string {
	if dir == "" {
		return os.TempDir()
	}
	return dir
}

// checkDest refuses a destination that is the source (or one of its
// companion files) or whose directory is missing.
func checkDest(src, dst string) error {
	dir := filepath.Dir(dst)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sqlitesnap: destination directory %s: %w; create it first", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("sqlitesnap: destination directory %s is not a directory", dir)
	}
	for _, p := range []string{src, src + "-wal", src + "-shm", src + "-journal"} {
		if p == dst {
			return fmt.Errorf("sqlitesnap: destination %s is the source database or one of its files; choose another path", dst)
		}
	}
	a, err1 := os.Stat(src)
	b, err2 := os.Stat(dst)
	if err1 == nil && err2 == nil && os.SameFile(a, b) {
		return fmt.Errorf("sqlitesnap: destination %s is the source database %s (same file); choose another path", dst, src)
	}
	return nil
}

// snapshotToStaging runs phases 1-3 (without the check) and fills res's
// page, version and journal-mode fields.
func snapshotToStaging(ctx context.Context, src, staged string, o Options, rep *reporter, log *zap.Logger, res *Result) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlitesnap: snapshot %s: %w", src, err)
	}
	sc, err := openReadOnly(src)
	if err != nil {
		return classify(ctx, err, "open source", src)
	}
	defer sc.Close()

	// Phase 1: one read transaction.
	n, err := beginSnapshotRead(ctx, sc, src, o.BusyTimeout)
	if err != nil {
		return err
	}
	defer func() {
		// Ends the read transaction (a no-op error after a cancel is fine).
		_ = exec(sc, "ROLLBACK")
	}()
	if err := readSourceInfo(ctx, sc, src, res); err != nil {
		return err
	}
	log.Debug("read transaction open", zap.Int64("schema_objects", n), zap.String("journal_mode", res.JournalMode))

	// Phase 2: the backup into a fresh staging file.
	dc, err := createStagingDB(ctx, staged)
	if err != nil {
		return err
	}
	defer dc.Close()
	if err := backup(ctx, dc, sc, src, o, rep, log, res); err != nil {
		return err
	}
	// The copy is complete: end the source's read transaction now so
	// rollback-journal writers wait no longer than necessary.
	if err := exec(sc, "COMMIT"); err != nil {
		return classify(ctx, err, "end the read transaction on", src)
	}

	// Phase 3: self-contained file. A WAL source's header (bytes 18/19 = 2)
	// was copied too; switching the copy to DELETE rewrites them to 1.
	if err := exec(dc, "PRAGMA journal_mode=DELETE"); err != nil {
		return classify(ctx, err, "switch the staged copy to journal_mode=DELETE:", staged)
	}
	if err := dc.Close(); err != nil {
		return classify(ctx, err, "close staging file", staged)
	}
	return fsyncFile(staged)
}

// beginSnapshotRead opens the read transaction on the source connection sc
// and reads from it (which takes the lock), waiting at most busyTimeout for
// a lock held by another connection (then ErrBusy). It returns the number
// of schema objects. From its successful return on, only ctx interrupts sc.
func beginSnapshotRead(ctx context.Context, sc *sqlite.Conn, src string, busyTimeout time.Duration) (int64, error) {
	// The busy handler (zombiezen's SetBlockOnBusy, set by OpenConn) waits
	// until the interrupt channel closes, so the lock wait ends at
	// BusyTimeout or on cancel, whichever is first.
	lockCtx, cancelLock := context.WithTimeout(ctx, busyTimeout)
	defer cancelLock()
	sc.SetInterrupt(lockCtx.Done())
	if err := exec(sc, "BEGIN DEFERRED"); err != nil {
		return 0, classify(ctx, err, "begin a read transaction on", src)
	}
	n, err := queryInt(sc, "SELECT count(*) FROM sqlite_schema")
	if err != nil {
		if ctx.Err() == nil && lockCtx.Err() != nil && (isInterrupt(err) || isBusy(err)) {
			return 0, fmt.Errorf("%w: snapshot source %s stayed locked by another connection for the busy timeout of %v (%v); retry later or raise Options.BusyTimeout",
				ErrBusy, src, busyTimeout, err)
		}
		return 0, classify(ctx, err, "read", src)
	}
	// From here on only ctx interrupts the source connection (the read
	// transaction is open: no more lock waits).
	sc.SetInterrupt(ctx.Done())
	return n, nil
}

// createStagingDB creates the staging file and opens it for the backup,
// without durability or rollback journal while it is written.
func createStagingDB(ctx context.Context, staged string) (*sqlite.Conn, error) {
	// Created private first: SQLite keeps an existing file's mode (and gives
	// its journal the same), and the copy holds the application's secrets.
	f, err := os.OpenFile(staged, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitesnap: create staging file %s: %w", staged, err)
	}
	f.Close()
	dc, err := sqlite.OpenConn(staged, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		return nil, classify(ctx, err, "create staging file", staged)
	}
	dc.SetInterrupt(ctx.Done())
	// Staging needs no durability while it is written (it is fsynced once
	// at the end) and no rollback journal (a failed copy is thrown away).
	for _, p := range []string{"PRAGMA synchronous=OFF", "PRAGMA journal_mode=OFF"} {
		if err := exec(dc, p); err != nil {
			err = classify(ctx, err, "prepare staging file", staged)
			dc.Close()
			return nil, err
		}
	}
	return dc, nil
}

func isBusy(err error) bool {
	p := sqlite.ErrCode(err).ToPrimary()
	return p == sqlite.ResultBusy || p == sqlite.ResultLocked
}

// backup copies every page from sc to dc with the backup API, stepping
// o.PagesPerStep pages at a time while sc's read transaction stays open.
func backup(ctx context.Context, dc, sc *sqlite.Conn, src string, o Options, rep *reporter, log *zap.Logger, res *Result) error {
	b, err := sqlite.NewBackup(dc, "main", sc, "main")
	if err != nil {
		return classify(ctx, err, "start the backup of", src)
	}
	defer b.Close()
	rep.update(Progress{Phase: "snapshot", Done: 0, Total: res.PageCount, Unit: "pages"}, true)
	var prevDone int64 = -1
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sqlitesnap: snapshot %s: stopped: %w", src, err)
		}
		more, err := b.Step(o.PagesPerStep)
		if err != nil {
			// Busy/locked (more=true) can't come from the source (its
			// read transaction is open) nor from the private staging
			// file; treat every error as final.
			return classify(ctx, err, "copy pages of", src)
		}
		total := int64(b.PageCount())
		done := total - int64(b.Remaining())
		if done < prevDone {
			// Would mean SQLite restarted the backup; the open read
			// transaction rules that out. Logged, never expected.
			log.Warn("sqlite backup restarted", zap.Int64("done", done), zap.Int64("previously", prevDone))
		}
		prevDone = done
		rep.update(Progress{Phase: "snapshot", Done: done, Total: total, Unit: "pages"}, !more)
		if !more {
			if total != res.PageCount {
				// The read transaction pins the page count; a difference
				// would mean the copy is not the snapshot it began with.
				return fmt.Errorf("sqlitesnap: snapshot %s: copied %d pages, the read transaction saw %d; please report this", src, total, res.PageCount)
			}
			return nil
		}
	}
}

func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sqlitesnap: fsync %s: %w", path, err)
	}
	return f.Close()
}
