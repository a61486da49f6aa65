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
	m := jr.m
	h := user
	h.BeforeStep = func(ctx context.Context, step progress.Step) error {
		if user.BeforeStep != nil {
			return user.BeforeStep(ctx, step)
		}
		return nil
	}
	h.BeforePartial = func(ctx context.Context, partial string) error {
		// Recorded before it exists: recovery removes it if this process dies.
		dctx, cancel := m.dbCtx()
		defer cancel()
		if err := m.db.Write(dctx, func(tx *statedb.Tx) error { return tx.SetPartials(jr.id, []string{partial}) }); err != nil {
			return err
		}
		if user.BeforePartial != nil {
			return user.BeforePartial(ctx, partial)
		}
		return nil
	}
	h.BeforeCommit = func(ctx context.Context, pack, hash string) error {
		// Recorded before the rename: a crash right after it still finds the pack.
		dctx, cancel := m.dbCtx()
		defer cancel()
		if err := m.db.Write(dctx, func(tx *statedb.Tx) error { return tx.SetPendingPack(jr.id, pack, hash) }); err != nil {
			return fmt.Errorf("recording the pack before its rename failed, so it was not renamed: %w", err)
		}
		if user.BeforeCommit != nil {
			return user.BeforeCommit(ctx, pack, hash)
		}
		return nil
	}
	h.BeforeStop = func(ctx context.Context, cs []dockerapi.Container) error {
		dctx, cancel := m.dbCtx()
		defer cancel()
		if err := m.db.Write(dctx, func(tx *statedb.Tx) error {
			return tx.RecordStopped(jr.id, stoppedOf(jr.id, cs), m.cfg.Now().UnixMilli())
		}); err != nil {
			return fmt.Errorf("recording the containers to stop in the state DB failed, so none was stopped: %w", err)
		}
		jr.logk("info", "job.log.stop_recorded", containerNames(cs))
		if user.BeforeStop != nil {
			return user.BeforeStop(ctx, cs)
		}
		return nil
	}
	h.BeforeRestart = func(ctx context.Context, cs []dockerapi.Container) error {
		// A resumed process whose lease was taken over must not start
		// containers the new owner may have stopped for its own copy: the new
		// owner's recovery has already started them.
		dctx, cancel := m.dbCtx()
		defer cancel()
		if owner, err := jr.lease.held(dctx); err == nil && !owner {
			jr.logk("warn", "job.log.restart_skipped", containerNames(cs))
			return fmt.Errorf("%w: job %d", backup.ErrLeaseLost, jr.id)
		}
		if user.BeforeRestart != nil {
			return user.BeforeRestart(ctx, cs)
		}
		return nil
	}
	h.AfterRestart = func(ctx context.Context, cs []dockerapi.Container, err error) {
		if err == nil {
			dctx, cancel := m.dbCtx()
			werr := m.db.Write(dctx, func(tx *statedb.Tx) error {
				return tx.MarkRestarted(jr.id, containerIDs(cs), m.cfg.Now().UnixMilli())
			})
			cancel()
			if werr != nil {
				jr.logk("warn", "job.log.restart_unrecorded", containerNames(cs), werr)
			} else {
				jr.logk("info", "job.log.restarted", containerNames(cs))
			}
		} else {
			jr.logk("error", "job.log.restart_failed", containerNames(cs), err)
		}
		if user.AfterRestart != nil {
			user.AfterRestart(ctx, cs, err)
		}
	}
	return h
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
