package jobs

import (
	"path"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/transfer"
	"go.uber.org/zap"
)

// copyPack copies a completed job's pack to the copy_target setting (a
// directory or s3://bucket/prefix, reached with the same s3_* settings)
// with transfer.Copy: verified on arrival, invisible there until its
// manifest lands, resumed by the next copy of the same pack. It never
// fails the job: a failed copy is a warning in the job's log.
func (jr *jobRun) copyPack(res *backup.Result) {
	m := jr.m
	ctx := m.base
	s, err := m.loadSettings(ctx)
	if err != nil {
		jr.logf("warn", "copy to the second target skipped: %v (the backup itself succeeded)", err)
		return
	}
	if s.CopyTarget == "" {
		return
	}
	name := path.Base(res.Pack)
	if res.Name != "" {
		name = res.Name
	}
	r, err := transfer.CopyBetween(ctx, jr.spec.Target, jr.spec.S3, s.CopyTarget, s3Options(s),
		transfer.Options{Pack: name, Logger: m.log.With(zap.Int64("job_id", jr.id))})
	if err != nil {
		jr.logf("warn", "copy of %s to %s failed: %v (the backup itself succeeded)", name, s.CopyTarget, err)
		return
	}
	jr.logf("info", "copied %s to %s, verified on arrival: %d files, %s sent (%d already there), %d store bundles (%s)",
		name, r.Destination, r.Files, units.BytesSize(float64(r.CopiedBytes)), r.Skipped, r.Bundles, units.BytesSize(float64(r.BundleBytes)))
}
