package sqlitesnap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

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
	if err := prepareRestore(&o, &res, snapshot, dst); err != nil {
		return res, err
	}
	snapshot, dst = res.Source, res.Dest
	log := o.Logger.With(zap.String("snapshot", snapshot), zap.String("dest", dst))
	stagingRoot := stagingRootOf(o.StagingDir)
	var need int64
	if fi, err := o.Open.stat(snapshot); err == nil {
		need = fi.Size()
	}
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

	staged, err := stageSnapshot(ctx, snapshot, dst, stageDir, o, rep, &res)
	if err != nil {
		return res, err
	}
	err = replaceDest(ctx, snapshot, dst, staged, stagingRoot, o, rep, log, &res)
	return res, err
}
