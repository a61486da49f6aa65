package backup

import (
	"context"
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

func (r *runner) volumes(ctx context.Context) error {
	st := r.plan.Stack
	if len(r.plan.Stop) > 0 {
		var ids, names []string
		for _, c := range r.plan.Stop {
			ids = append(ids, c.ID)
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
		restart, err := r.spec.Engine.StopContainers(ctx, ids, r.spec.StopTimeout)
		if err != nil {
			return fmt.Errorf("stopping %s: %w", strings.Join(names, ", "), err)
		}
		stopped := r.plan.Stop
		r.restart = onceErr(func() error {
			if h := r.spec.Hooks.BeforeRestart; h != nil {
				if err := h(context.WithoutCancel(ctx), stopped); err != nil {
					r.log.Warn("not starting the stopped services again", zap.Error(err))
					return nil
				}
			}
			err := restart()
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
	}
	for _, v := range st.Volumes {
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
