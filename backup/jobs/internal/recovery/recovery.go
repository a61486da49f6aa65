// Package recovery ends what a dead (or displaced) owner of the backup
// lock left behind: its jobs still queued/running/canceling become failed
// with error code "interrupted", the partial pack directories they
// recorded are removed (or, when the pack was complete and renamed into
// place, the job is completed), every container recorded as stopped by a
// job that is no longer active and not marked restarted is started again,
// real restores whose process died are ended and the containers they
// stopped started again, and dead writers' debris (helpers, staged copies)
// is removed. The job Manager runs it at start-up and, in the new job's
// goroutine before its backup starts, whenever a lease is taken over.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/internal/packdir"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/bounded"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
)

// Recoverer recovers for a Manager: its state DB, engine and rules.
type Recoverer struct {
	DB     *statedb.DB
	Engine backup.RecoverEngine
	// Owner is the recovering process (named in the recovered jobs' detail).
	Owner owner.Identity
	// Judge says whether a lock row is a live lease at now, and if not why.
	Judge func(l *statedb.Lock, now time.Time) (live bool, why string)
	// Target is the configured target directory ("" when none), searched
	// for dead writers' partial packs besides the recovered jobs' targets.
	Target func(ctx context.Context) string
	// Ended is told of each recovered job once it is cleaned up.
	Ended func(ctx context.Context, jobID int64)
	// Lang is the language of the log lines.
	Lang string
	Log  *zap.Logger
	Now  func() time.Time
	// EventsPerJob is how many log lines a job keeps.
	EventsPerJob int
	StagingDir   string
	// StatTimeout bounds file system calls on the target (a removal: 5×);
	// Timeout one recovery pass.
	StatTimeout, Timeout time.Duration
}

// say logs a recovery line, hands it to note (when set) and adds it to the
// job's log.
func (m *Recoverer) say(ctx context.Context, jobID int64, level, msg string, note func(level, msg string)) {
	if level == "error" {
		m.Log.Error(msg, zap.Int64("job_id", jobID))
	} else {
		m.Log.Info(msg, zap.Int64("job_id", jobID))
	}
	if note != nil {
		note(level, msg)
	}
	_ = m.DB.Write(ctx, func(tx *statedb.Tx) error {
		return tx.InsertEvents(jobID, []statedb.Event{{AtMs: m.Now().UnixMilli(), Level: level, Message: "recovery: " + msg}}, m.EventsPerJob)
	})
}

func (m *Recoverer) tr(key string, args ...any) string { return i18n.T(m.Lang, key, args...) }

// MarkInterrupted ends every active job but except as failed/interrupted
// (message: the job's message), inside the caller's transaction, and
// returns them as they were.
func MarkInterrupted(tx *statedb.Tx, except int64, nowMs int64, by owner.Identity, why, message string) ([]statedb.Job, error) {
	rows, err := tx.ActiveJobs(except)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		detail := fmt.Sprintf("the process running job %d (host %s pid %d) stopped without finishing it: %s; recovered by %s",
			r.ID, r.OwnerHost, r.OwnerPID, why, by)
		if err := tx.FailInterrupted(r.ID, nowMs, message, detail); err != nil {
			return nil, err
		}
		if err := tx.InsertEvents(r.ID, []statedb.Event{{AtMs: nowMs, Level: "error", Message: "recovery: " + detail}}, 1<<30); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// AtStart recovers every active job not covered by a live lease and
// deletes a lock row whose lease is not live.
func (m *Recoverer) AtStart(ctx context.Context) error {
	var recovered []statedb.Job
	err := m.DB.Write(ctx, func(tx *statedb.Tx) error {
		l, err := tx.Lock()
		if err != nil {
			return err
		}
		var except int64
		why := "found unfinished when dockpack started"
		if l != nil {
			if live, reason := m.Judge(l, m.Now()); live {
				except = l.JobID
			} else {
				why = reason
				if err := tx.DeleteLock(); err != nil {
					return err
				}
				m.Log.Warn("stale backup lock removed at start-up", zap.Int64("job_id", l.JobID), zap.String("reason", reason))
			}
		}
		recovered, err = MarkInterrupted(tx, except, m.Now().UnixMilli(), m.Owner, why, m.tr("job.interrupted"))
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range recovered {
		m.Log.Warn("job interrupted by a dead process recovered", zap.Int64("job_id", r.ID), zap.String("owner_host", r.OwnerHost), zap.Int("owner_pid", r.OwnerPID))
	}
	m.Cleanup(ctx, recovered, nil)
	return nil
}

// Cleanup removes the recovered jobs' partial directories, starts every
// container still recorded as stopped by a job no longer active, ends dead
// real restores, removes dead writers' debris and tells Ended of each
// recovered job. note (may be nil) receives a line per action for the log
// of the job that triggered the recovery.
func (m *Recoverer) Cleanup(ctx context.Context, jobs []statedb.Job, note func(level, msg string)) {
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	say := func(jobID int64, level, msg string) { m.say(ctx, jobID, level, msg, note) }
	for _, j := range jobs {
		if note != nil {
			note("warn", m.tr("job.log.recovered", j.ID, j.OwnerHost, j.OwnerPID))
		}
		m.completeIfPacked(ctx, j, say)
		for _, p := range j.PartialDirs {
			if !strings.HasPrefix(filepath.Base(p), pack.PartialPrefix) || !filepath.IsAbs(p) {
				say(j.ID, "error", fmt.Sprintf("not removing %q: it is not a partial pack directory", p))
				continue
			}
			err := bounded.Do(ctx, m.StatTimeout*5, "removing "+p, func() error {
				// the partial pack and its owner record (its writer, which
				// may be alive but displaced, must not find one without the other)
				return errors.Join(os.RemoveAll(p), removeMissingOK(p+packdir.OwnerSuffix))
			})
			if err != nil {
				say(j.ID, "error", fmt.Sprintf("cannot remove partial pack %s of job %d: %v", p, j.ID, err))
				continue
			}
			say(j.ID, "info", m.tr("job.log.partial_removed", p, j.ID))
		}
	}
	m.restartRecordedContainers(ctx, say)
	m.liveRestores(ctx, say) // live.go
	m.removeDebris(ctx, jobs, say)
	for _, j := range jobs {
		m.Ended(ctx, j.ID)
	}
}

// restartRecordedContainers starts every container recorded as stopped by a
// job that is no longer active and not yet marked restarted. Starting a
// running container is a no-op for the engine; a container that no longer
// exists is marked done.
func (m *Recoverer) restartRecordedContainers(ctx context.Context, say func(jobID int64, level, msg string)) {
	var pending []statedb.Stopped
	if err := m.DB.Read(ctx, func(tx *statedb.Tx) error {
		var err error
		pending, err = tx.PendingRestarts()
		return err
	}); err != nil {
		m.Log.Error("cannot read containers to restart", zap.Error(err))
		return
	}
	for _, c := range pending {
		err := m.Engine.StartContainers(ctx, []string{c.ID})
		switch {
		case err == nil:
			say(c.JobID, "info", m.tr("job.log.container_started", c.Name, c.JobID))
		case errors.Is(err, dockerapi.ErrContainerNotFound):
			say(c.JobID, "warn", fmt.Sprintf("container %s stopped by job %d no longer exists; nothing to start", c.Name, c.JobID))
		default:
			say(c.JobID, "error", fmt.Sprintf("cannot start container %s again (stopped by job %d): %v; it will be retried at the next recovery, or start it by hand", c.Name, c.JobID, err))
			continue
		}
		_ = m.DB.Write(ctx, func(tx *statedb.Tx) error {
			return tx.MarkRestarted(c.JobID, []string{c.ID}, m.Now().UnixMilli())
		})
	}
}

func removeMissingOK(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// completeIfPacked ends a job that died after writing its pack (recorded
// before the rename) as completed when that pack is there, complete and the
// one it recorded: the job record agrees with the target.
func (m *Recoverer) completeIfPacked(ctx context.Context, j statedb.Job, say func(int64, string, string)) {
	if j.PendingPack == nil || j.PendingHash == nil {
		return
	}
	dir := *j.PendingPack
	m1, hash, err := pack.ReadManifest(ctx, dir)
	if err != nil || hash != *j.PendingHash {
		if err == nil {
			err = fmt.Errorf("its manifest hash is %s, the job recorded %s", hash, *j.PendingHash)
		}
		say(j.ID, "info", fmt.Sprintf("job %d had not renamed its pack into place (%v): it stays interrupted", j.ID, err))
		return
	}
	vr, err := pack.Verify(ctx, dir, pack.VerifyOptions{Structural: true, StagingDir: m.StagingDir})
	if err != nil {
		say(j.ID, "error", fmt.Sprintf("job %d's pack %s is there but fails verification (%v): the job stays interrupted", j.ID, dir, err))
		return
	}
	name := filepath.Base(dir)
	detail := fmt.Sprintf("the process running job %d died after its pack %s was complete; recovery found the pack in place and verified its structure (%d checks), so the job is completed", j.ID, name, len(vr.Checks))
	werr := m.DB.Write(ctx, func(tx *statedb.Tx) error {
		return tx.CompleteRecovered(j.ID, m.Now().UnixMilli(), dir, name, hash, m.tr("job.complete", name, units.BytesSize(float64(m1.PackSize()))), detail)
	})
	if werr != nil {
		say(j.ID, "error", fmt.Sprintf("cannot record job %d's recovered pack: %v", j.ID, werr))
		return
	}
	say(j.ID, "warn", detail)
}

// removeDebris removes what dead writers left in the targets of the
// recovered jobs (and the configured one), in staging and on the engine:
// partial packs with their owner records (starting the containers they
// stopped), helper containers and images, staged database copies.
func (m *Recoverer) removeDebris(ctx context.Context, jobs []statedb.Job, say func(int64, string, string)) {
	targets := map[string]int64{}
	for _, j := range jobs {
		if j.Target != "" {
			targets[j.Target] = j.ID
		}
	}
	if t := m.Target(ctx); t != "" {
		if _, ok := targets[t]; !ok {
			targets[t] = 0
		}
	}
	if len(targets) == 0 {
		targets[""] = 0 // still the engine and staging
	}
	first := true
	for target, jobID := range targets {
		o := backup.RecoverOptions{Target: target, Logger: m.Log}
		if first { // the engine and staging once
			o.Engine, o.StagingDir, first = m.Engine, m.StagingDir, false
		}
		got, err := backup.Recover(ctx, o)
		for _, p := range got.Partials {
			say(jobID, "info", m.tr("job.log.partial_removed", p, jobID))
		}
		for _, h := range got.Helpers {
			say(jobID, "info", fmt.Sprintf("removed the helper %s a dead backup left on the engine", h))
		}
		for _, s := range got.Staged {
			say(jobID, "info", fmt.Sprintf("removed the staged database copy %s a dead backup left", s))
		}
		for _, c := range got.Restarted {
			say(jobID, "info", fmt.Sprintf("started container %s again, which a dead backup had stopped", c))
		}
		if err != nil {
			say(jobID, "error", fmt.Sprintf("recovery: %v", err))
		}
	}
}
