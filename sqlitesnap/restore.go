package sqlitesnap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Restore replaces the database at dst with the snapshot:
//
//  1. unless o.Force, it refuses with ErrInUse (an *InUseError) when dst is
//     in use — its exclusive lock can't be taken within o.BusyTimeout or a
//     process has it open (see InUseError); this is checked before any
//     work and again right before the rename;
//  2. the snapshot (possibly on a network share) is copied into a private
//     directory under o.StagingDir while its sha256 is computed (compared
//     with o.ExpectSHA256 when set) and checked with o.Check there
//     (ErrCorrupt, ErrNotDatabase);
//  3. the checked copy is written to a temp name beside dst and fsynced;
//  4. the old database's -wal, -shm and -journal are removed (they belong
//     to the old file and would be replayed onto the restored one), the
//     temp file is renamed to dst and the directory fsynced.
//
// A replaced dst keeps its permissions and owner; a new one gets the
// snapshot's permissions. Nothing beside dst is changed when Restore fails
// before step 4, and staging is always removed. Result.SnapshotDuration is
// the time to stage the snapshot; JournalMode is the snapshot's.
//
// The in-use check cannot see a process in another PID namespace that has
// a rollback-journal database open but idle (it holds no lock and its
// descriptors are not in this /proc); stop the application's containers
// before restoring, as the backup pipeline does.
func Restore(ctx context.Context, snapshot, dst string, o RestoreOptions) (res Result, err error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return res, err
	}
	if res.Source, err = filepath.Abs(snapshot); err != nil {
		return res, err
	}
	if res.Dest, err = filepath.Abs(dst); err != nil {
		return res, err
	}
	snapshot, dst = res.Source, res.Dest
	log := o.Logger.With(zap.String("snapshot", snapshot), zap.String("dest", dst))
	if err := statRegular(snapshot, "restore snapshot"); err != nil {
		return res, err
	}
	if err := checkDest(snapshot, dst); err != nil {
		return res, err
	}
	stagingRoot := o.StagingDir
	if stagingRoot == "" {
		stagingRoot = os.TempDir()
	}
	need := fileSize(snapshot)
	if err := needSpace(stagingRoot, "staging", need); err != nil {
		return res, err
	}
	if err := needSpace(filepath.Dir(dst), "destination", need); err != nil {
		return res, err
	}
	// Fail fast: don't copy anything when the database is in use.
	if err := inUseGate(ctx, dst, o, log); err != nil {
		return res, err
	}

	stageDir, err := newStagingDir(stagingRoot, o.Owner)
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(stageDir); rerr != nil && err == nil {
			err = fmt.Errorf("sqlitesnap: remove staging directory %s: %w", stageDir, rerr)
		}
	}()
	rep := newReporter(o.Progress, o.ProgressInterval)
	defer rep.close()

	// 2. stage and check.
	t0 := time.Now()
	staged, err := copyToTemp(ctx, snapshot, filepath.Join(stageDir, filepath.Base(snapshot)), 0o600, nil, nil, rep, "stage")
	if err != nil {
		return res, err
	}
	res.SnapshotDuration = time.Since(t0)
	if o.ExpectSHA256 != "" && !strings.EqualFold(o.ExpectSHA256, staged.sha256) {
		return res, fmt.Errorf("%w: snapshot %s has sha256 %s, expected %s; the file was changed or damaged after it was written",
			ErrCorrupt, snapshot, staged.sha256, strings.ToLower(o.ExpectSHA256))
	}
	t0 = time.Now()
	_, pages, _, _ := headerInfo(staged.tmp)
	rep.update(Progress{Phase: "check", Total: pages, Unit: "pages"}, true)
	if err := inspect(ctx, staged.tmp, o.Check, &res); err != nil {
		return res, fmt.Errorf("sqlitesnap: restore %s: snapshot %s: %w", dst, snapshot, err)
	}
	res.Check = "ok"
	res.CheckDuration = time.Since(t0)
	rep.update(Progress{Phase: "check", Done: res.PageCount, Total: res.PageCount, Unit: "pages"}, true)

	// 3. the temp file beside dst.
	t0 = time.Now()
	var owner os.FileInfo
	if st, serr := os.Stat(dst); serr == nil {
		owner = st
	}
	perm := os.FileMode(0o644)
	if st, serr := os.Stat(snapshot); serr == nil {
		perm = st.Mode().Perm()
	}
	out, err := copyToTemp(ctx, staged.tmp, dst, perm, owner, nil, rep, "copy")
	if err != nil {
		return res, err
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(out.tmp)
		}
	}()
	if out.sha256 != staged.sha256 {
		return res, fmt.Errorf("sqlitesnap: restore %s: the staged snapshot changed while it was copied (sha256 %s, then %s); check the staging directory %s",
			dst, staged.sha256, out.sha256, stagingRoot)
	}

	// 4. last in-use check, stale files, rename.
	if err := inUseGate(ctx, dst, o, log); err != nil {
		return res, err
	}
	removed, err := removeStale(dst)
	if len(removed) > 0 {
		log.Info("removed the old database's files", zap.Strings("files", removed))
	}
	if err != nil {
		return res, err
	}
	if err := commitTemp(ctx, out.tmp, dst, nil); err != nil {
		return res, err
	}
	committed = true
	res.CopyDuration = time.Since(t0)
	res.Bytes, res.SHA256 = out.bytes, out.sha256
	log.Info("sqlite snapshot restored", zap.Int64("bytes", res.Bytes), zap.String("sha256", res.SHA256))
	return res, nil
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

// inspect checks the database at path and fills res's page, version and
// journal-mode fields.
func inspect(ctx context.Context, path string, mode CheckMode, res *Result) error {
	c, err := openReadOnly(path)
	if err != nil {
		return classify(ctx, err, "open", path)
	}
	defer c.Close()
	c.SetInterrupt(ctx.Done())
	if err := runCheck(ctx, c, path, mode); err != nil {
		return err
	}
	if err := exec(c, "BEGIN"); err != nil {
		return classify(ctx, err, "read", path)
	}
	defer exec(c, "ROLLBACK")
	if err := readSourceInfo(ctx, c, path, res); err != nil {
		return err
	}
	// The header is the truth for a file nobody has open: bytes 18/19 = 2
	// mean WAL.
	if _, _, jm, err := headerInfo(path); err == nil {
		res.JournalMode = jm
	}
	return nil
}

// headerInfo reads the database header of a closed file: the page size,
// the page count implied by the file size, and the journal mode its
// file-format bytes 18/19 say (2: "wal", else "delete").
func headerInfo(path string) (pageSize, pages int64, journal string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, "", err
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return 0, 0, "", err
	}
	pageSize = int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if st, serr := f.Stat(); serr == nil && pageSize > 0 {
		pages = st.Size() / pageSize
	}
	journal = "delete"
	if h[18] == 2 {
		journal = "wal"
	}
	return pageSize, pages, journal, nil
}
