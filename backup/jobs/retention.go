package jobs

import (
	"context"
	"time"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/transfer"
	"go.uber.org/zap"
)

// retention prunes old packs after a successful backup; it never fails the job.
func (jr *jobRun) retention(res *backup.Result) {
	m := jr.m
	ctx, cancel := context.WithTimeout(m.base, m.cfg.RecoveryTimeout)
	defer cancel()
	s, err := m.loadSettings(ctx)
	if err != nil {
		jr.logk("warn", "job.log.retention_skip", err)
		return
	}
	type out struct {
		r   prune.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := transfer.PruneTarget(ctx, jr.spec.S3, prune.Options{Target: jr.spec.Target, Project: jr.spec.Project, Keep: s.BackupRetentionMax,
			PartialOlderThan: m.cfg.PartialMaxAge, LiveWithin: m.cfg.PartialMaxAge, Protect: []string{res.Pack}, Logger: m.log.With(zap.Int64("job_id", jr.id)), Now: m.cfg.Now})
		done <- out{r, err}
	}()
	var o out
	select {
	case o = <-done:
	case <-ctx.Done():
		jr.logf("warn", "retention did not finish within %s; it goes on in the background (the backup itself succeeded)", m.cfg.RecoveryTimeout)
		return
	}
	for _, d := range o.r.Deleted {
		jr.logk("info", "job.log.retention", s.BackupRetentionMax, d.Name,
			units.BytesSize(float64(d.Size)), d.CreatedAt.UTC().Format(time.RFC3339))
	}
	if o.err != nil {
		jr.logf("warn", "retention: %v (the backup itself succeeded)", o.err)
	}
}
