package jobs

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
)

// hooks merges the manager's seams with the configured ones.
func (jr *jobRun) hooks(user backup.Hooks) backup.Hooks {
	m := jr.m
	h := user
	h.BeforeStep = func(ctx context.Context, step progress.Step) error {
		if step != progress.StepPrecheck {
			jr.notePartials(ctx)
		}
		if user.BeforeStep != nil {
			return user.BeforeStep(ctx, step)
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

// snapshotPartials remembers the partial pack directories present before Run.
func (jr *jobRun) snapshotPartials(ctx context.Context) {
	before := map[string]bool{}
	ents, err := readDirNamesBounded(ctx, jr.spec.Target, jr.m.cfg.StatTimeout)
	if err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), pack.PartialPrefix) {
				before[e.Name()] = true
			}
		}
	}
	jr.mu.Lock()
	jr.partialsBefore = before
	jr.mu.Unlock()
}

// notePartials records the partial pack directory this job's Run created
// (the new .partial-* entries of the target), so that recovery can remove it
// if this process dies.
func (jr *jobRun) notePartials(ctx context.Context) {
	jr.mu.Lock()
	if jr.partialsDone {
		jr.mu.Unlock()
		return
	}
	before := jr.partialsBefore
	jr.mu.Unlock()
	ents, err := readDirNamesBounded(ctx, jr.spec.Target, jr.m.cfg.StatTimeout)
	if err != nil {
		return
	}
	var mine []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), pack.PartialPrefix) && !before[e.Name()] {
			mine = append(mine, filepath.Join(jr.spec.Target, e.Name()))
		}
	}
	if len(mine) == 0 {
		return
	}
	dctx, cancel := jr.m.dbCtx()
	defer cancel()
	if err := jr.m.db.Write(dctx, func(tx *statedb.Tx) error { return tx.SetPartials(jr.id, mine) }); err != nil {
		jr.logf("warn", "cannot record the partial pack directory in the state DB: %v", err)
		return
	}
	jr.mu.Lock()
	jr.partialsDone = true
	jr.mu.Unlock()
}
