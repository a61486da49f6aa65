package jobs

import (
	"context"
	"fmt"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
)

// hooks merges the manager's seams with the configured ones.
func (jr *jobRun) hooks(user backup.Hooks) backup.Hooks {
	h := user
	h.BeforeStep = func(ctx context.Context, step progress.Step) error {
		if user.BeforeStep != nil {
			return user.BeforeStep(ctx, step)
		}
		return nil
	}
	h.BeforePartial = func(ctx context.Context, partial string) error {
		if err := jr.recordPartial(partial); err != nil || user.BeforePartial == nil {
			return err
		}
		return user.BeforePartial(ctx, partial)
	}
	h.BeforeCommit = func(ctx context.Context, pack, hash string) error {
		if err := jr.recordPendingPack(pack, hash); err != nil || user.BeforeCommit == nil {
			return err
		}
		return user.BeforeCommit(ctx, pack, hash)
	}
	h.BeforeStop = func(ctx context.Context, cs []dockerapi.Container) error {
		if err := jr.recordStopped(cs); err != nil || user.BeforeStop == nil {
			return err
		}
		return user.BeforeStop(ctx, cs)
	}
	h.BeforeRestart = func(ctx context.Context, cs []dockerapi.Container) error {
		if err := jr.mayRestart(cs); err != nil || user.BeforeRestart == nil {
			return err
		}
		return user.BeforeRestart(ctx, cs)
	}
	h.AfterRestart = func(ctx context.Context, cs []dockerapi.Container, err error) {
		jr.recordRestarted(cs, err)
		if user.AfterRestart != nil {
			user.AfterRestart(ctx, cs, err)
		}
	}
	return h
}

// write runs fn in a write transaction of the manager's own (not the job's context).
func (jr *jobRun) write(fn func(tx *statedb.Tx) error) error {
	dctx, cancel := jr.m.dbCtx()
	defer cancel()
	return jr.m.db.Write(dctx, fn)
}

// recordPartial records the partial pack directory before it exists:
// recovery removes it if this process dies.
func (jr *jobRun) recordPartial(partial string) error {
	return jr.write(func(tx *statedb.Tx) error { return tx.SetPartials(jr.id, []string{partial}) })
}

// recordPendingPack records the pack before its rename: a crash right after
// the rename still finds it.
func (jr *jobRun) recordPendingPack(pack, hash string) error {
	if err := jr.write(func(tx *statedb.Tx) error { return tx.SetPendingPack(jr.id, pack, hash) }); err != nil {
		return fmt.Errorf("recording the pack before its rename failed, so it was not renamed: %w", err)
	}
	return nil
}

// recordStopped records the containers to stop before they are stopped.
func (jr *jobRun) recordStopped(cs []dockerapi.Container) error {
	if err := jr.write(func(tx *statedb.Tx) error {
		return tx.RecordStopped(jr.id, stoppedOf(jr.id, cs), jr.m.cfg.Now().UnixMilli())
	}); err != nil {
		return fmt.Errorf("recording the containers to stop in the state DB failed, so none was stopped: %w", err)
	}
	jr.logk("info", "job.log.stop_recorded", containerNames(cs))
	return nil
}

// mayRestart refuses the restart when the lease was taken over: a resumed
// process must not start containers the new owner may have stopped for its
// own copy (the new owner's recovery has already started them).
func (jr *jobRun) mayRestart(cs []dockerapi.Container) error {
	dctx, cancel := jr.m.dbCtx()
	defer cancel()
	if owner, err := jr.lease.Held(dctx); err == nil && !owner {
		jr.logk("warn", "job.log.restart_skipped", containerNames(cs))
		return fmt.Errorf("%w: job %d", backup.ErrLeaseLost, jr.id)
	}
	return nil
}

// recordRestarted records that the stopped containers run again (or logs why not).
func (jr *jobRun) recordRestarted(cs []dockerapi.Container, err error) {
	if err != nil {
		jr.logk("error", "job.log.restart_failed", containerNames(cs), err)
		return
	}
	if werr := jr.write(func(tx *statedb.Tx) error {
		return tx.MarkRestarted(jr.id, containerIDs(cs), jr.m.cfg.Now().UnixMilli())
	}); werr != nil {
		jr.logk("warn", "job.log.restart_unrecorded", containerNames(cs), werr)
		return
	}
	jr.logk("info", "job.log.restarted", containerNames(cs))
}

func containerNames(cs []dockerapi.Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
		if names[i] == "" {
			names[i] = c.ID
		}
	}
	return strings.Join(names, ", ")
}

// stoppedOf are the containers a job stops, as recorded.
func stoppedOf(jobID int64, cs []dockerapi.Container) []statedb.Stopped {
	out := make([]statedb.Stopped, len(cs))
	for i, c := range cs {
		out[i] = statedb.Stopped{JobID: jobID, ID: c.ID, Name: c.Name}
	}
	return out
}

func containerIDs(cs []dockerapi.Container) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}
