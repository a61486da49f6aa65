package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/dockpack/dockpack/backup/internal/packdir"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/nonnil"
	"go.uber.org/zap"
)

// volumes is the volume step: the services' pre-backup hooks, their
// dumps (while everything runs), then the services to stop are stopped
// (dependents first), the volumes that are not excluded exported, the
// services started again (in reverse) and the post-backup hooks run —
// those always, also when the step fails (run's undo runs them after the
// restart).
func (r *runner) volumes(ctx context.Context) error {
	st := r.plan.Stack
	r.post = onceErr(func() error { return r.runHooks(context.WithoutCancel(ctx), pack.PhasePostBackup) })
	if err := r.runHooks(ctx, pack.PhasePreBackup); err != nil {
		return err
	}
	if err := r.dumps(ctx); err != nil {
		return err
	}
	if err := r.stopForVolumes(ctx); err != nil {
		return err
	}
	for _, v := range st.Volumes {
		if cp := r.plan.Consistency; cp != nil && !cp.Exported(v.Name) {
			continue // excluded, or covered by a dump (the manifest's consistency section says which)
		}
		rel := path.Join(pack.VolumesDir, v.Name+".tar")
		r.trk.Begin(progress.StepVolumes, v.Name, v.Size, r.t("job.volumes.export", v.Name))
		var er dockerapi.ExportResult
		_, err := r.writeFile(ctx, progress.StepVolumes, v.Name, rel, pack.FileVolume, func(w io.Writer) error {
			var err error
			er, err = r.spec.Engine.ExportVolume(ctx, st, v.Name, w)
			return err
		})
		if err != nil {
			return stepErr(progress.StepVolumes, v.Name, err)
		}
		r.man.Volumes = append(r.man.Volumes, pack.VolumeEntry{Name: v.Name, Driver: v.Driver, Options: nonnil.Map(v.Options), Labels: nonnil.Map(v.Labels),
			External: v.External, Size: er.ContentBytes, File: rel})
	}
	if r.restart != nil {
		r.trk.Message(r.t("job.volumes.restarting"), true)
		err := r.restart()
		r.restart = nil
		if err != nil {
			return fmt.Errorf("restarting stopped services: %w", err)
		}
	}
	return r.runPost()
}

// runPost runs the post-backup hooks once (nil when there are none or they ran).
func (r *runner) runPost() error {
	if r.post == nil {
		return nil
	}
	err := r.post()
	r.post = nil
	return err
}

// stopForVolumes stops the plan's containers one by one in its order
// (dependents first), recording them first; the undo (r.restart) starts
// them in the reverse order. When one does not stop, those stopped before
// it are started again at once.
func (r *runner) stopForVolumes(ctx context.Context) error {
	if len(r.plan.Stop) == 0 {
		return nil
	}
	var names []string
	for _, c := range r.plan.Stop {
		names = append(names, c.Name)
	}
	if h := r.spec.Hooks.BeforeStop; h != nil {
		if err := h(ctx, r.plan.Stop); err != nil {
			return fmt.Errorf("recording containers to stop: %w", err)
		}
	}
	// Also in the pack's owner record: if this process dies, whoever
	// recovers its debris starts them again (the CLI has no state DB).
	recs := make([]packdir.Container, len(r.plan.Stop))
	for i, c := range r.plan.Stop {
		recs[i] = packdir.Container{ID: c.ID, Name: c.Name}
	}
	if err := r.dir.RecordStopped(ctx, recs); err != nil {
		return fmt.Errorf("recording containers to stop: %w", err)
	}
	r.trk.Begin(progress.StepVolumes, "", 0, r.t("job.volumes.stopping", strings.Join(names, ", ")))
	var undo []func() error
	restartAll := func() error { // the reverse of the stop order
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			if err := undo[i](); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, c := range r.plan.Stop {
		restart, err := r.spec.Engine.StopContainers(ctx, []string{c.ID}, r.spec.StopTimeout)
		if err != nil {
			if rerr := restartAll(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("starting the containers stopped before it again: %w", rerr))
			}
			return fmt.Errorf("stopping %s: %w", c.Name, err)
		}
		undo = append(undo, restart)
	}
	stopped := r.plan.Stop
	r.restart = onceErr(func() error {
		if h := r.spec.Hooks.BeforeRestart; h != nil {
			if err := h(context.WithoutCancel(ctx), stopped); err != nil {
				r.log.Warn("not starting the stopped services again", zap.Error(err))
				return nil
			}
		}
		err := restartAll()
		if err == nil {
			if rerr := r.dir.RecordRestarted(context.WithoutCancel(ctx)); rerr != nil {
				r.log.Warn("the owner record still lists the restarted containers", zap.Error(rerr))
			}
		}
		if h := r.spec.Hooks.AfterRestart; h != nil {
			h(ctx, stopped, err)
		}
		return err
	})
	return nil
}

func onceErr(fn func() error) func() error {
	var done bool
	var err error
	return func() error {
		if !done {
			done = true
			err = fn()
		}
		return err
	}
}
