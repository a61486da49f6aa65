package backup

import (
	"context"
	"io"
	"path/filepath"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// sqlite snapshots the database into local staging, checks it there and
// streams the checked copy into the pack.
func (r *runner) sqlite(ctx context.Context) error {
	spec := r.spec
	base := filepath.Base(spec.SQLitePath)
	r.trk.Begin(progress.StepSQLite, base, r.plan.Estimate.DB, r.t("job.sqlite", spec.SQLitePath))
	var res sqlitesnap.Result
	_, err := r.writeFile(ctx, progress.StepSQLite, base, base, pack.FileSQLite, func(w io.Writer) error {
		var err error
		res, err = sqlitesnap.SnapshotTo(ctx, spec.SQLitePath, w, sqlitesnap.Options{
			StagingDir:  spec.StagingDir,
			BusyTimeout: spec.SQLiteBusyTimeout,
			Logger:      spec.Logger,
			Owner:       spec.Owner,
			Progress: func(p sqlitesnap.Progress) {
				if p.Phase != "copy" {
					r.trk.Message(r.t("job.sqlite.phase", p.Phase, p.Done, p.Total, p.Unit), false)
				}
			},
		})
		return err
	})
	if err != nil {
		return stepErr(progress.StepSQLite, spec.SQLitePath, err)
	}
	r.man.SQLite = &pack.SQLiteEntry{Source: spec.SQLitePath, File: base, SQLiteVersion: res.SQLiteVersion, JournalMode: res.JournalMode,
		PageCount: res.PageCount, PageSize: res.PageSize, Check: res.Check}
	return nil
}
