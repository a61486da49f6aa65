package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/sqlitesnap"
	"go.uber.org/zap"
)

// helperImage picks the image the volume helpers are made from: an image of
// the pack on the engine, else a fresh empty helper image (removed by the
// returned func).
func (r *restorer) helperImage(ctx context.Context) (string, func(), error) {
	for _, im := range r.m.Images {
		refs := append(slices.Clone(im.RepoTags), im.ConfigDigest)
		for _, ref := range refs {
			if d, err := r.spec.Engine.ImageConfigDigest(ctx, ref); err == nil && d == im.ConfigDigest {
				return ref, func() {}, nil
			}
		}
	}
	ref, remove, err := r.spec.Engine.HelperImage(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("no image of the pack is on the engine, and the empty helper image could not be imported: %w", err)
	}
	return ref, func() {
		if err := remove(); err != nil {
			r.log.Warn("helper image not removed", zap.String("image", ref), zap.Error(err))
		}
	}, nil
}

// volumes stops the containers of the plan and restores each volume.
func (r *restorer) volumes(ctx context.Context) error {
	eng := r.spec.Engine
	helper, done, err := r.helperImage(ctx)
	if err != nil {
		return err
	}
	defer done()
	if len(r.plan.stopIDs) > 0 {
		r.trk.Begin(progress.StepVolumes, "", 0, r.t.T("restore.progress.stopping", strings.Join(r.plan.Stop, ", ")))
		restart, err := eng.StopContainers(ctx, r.plan.stopIDs, r.spec.StopTimeout)
		r.restart = restart
		if err != nil {
			return fmt.Errorf("stopping %s: %w", strings.Join(r.plan.Stop, ", "), err)
		}
	}
	for _, v := range r.plan.Volumes {
		if v.Action == ActionSkip {
			continue
		}
		if err := r.volume(ctx, v, helper); err != nil {
			return &StepError{Step: progress.StepVolumes, Item: v.Target, Err: err}
		}
	}
	return nil
}

// volume (re)creates one volume as planned and fills it from its tar,
// marked incomplete until it is full.
func (r *restorer) volume(ctx context.Context, v VolumePlan, helper string) error {
	eng := r.spec.Engine
	fe, _ := r.m.File(v.File)
	r.trk.Begin(progress.StepVolumes, v.Target, fe.Size, r.t.T("restore.progress.volume", v.Target, v.Action, units.BytesSize(float64(v.Size))))
	switch v.Action {
	case ActionRefill, ActionReplace:
		if err := eng.ClearVolumeMarks(ctx, v.Target); err != nil {
			return err
		}
		if err := eng.RemoveVolume(ctx, v.Target, false); err != nil && !errors.Is(err, dockerapi.ErrVolumeNotFound) {
			return fmt.Errorf("remove the existing volume before creating it again: %w", err)
		}
		fallthrough
	case ActionCreate:
		if err := eng.CreateVolume(ctx, dockerapi.VolumeSpec{Name: v.Target, Driver: v.Driver, Options: v.Options, Labels: v.Labels}); err != nil {
			return err
		}
	}
	if err := eng.MarkVolumeIncomplete(ctx, v.Target, helper, filepath.Base(r.dir)); err != nil {
		return err
	}
	rd, done, err := r.openChecked(ctx, progress.StepVolumes, v.Target, fe)
	if err != nil {
		return err
	}
	err = eng.ImportVolume(ctx, v.Target, helper, rd)
	done()
	if err != nil {
		return fmt.Errorf("%w (the volume stays marked incomplete; the next restore refills it)", err)
	}
	r.res.Bytes += fe.Size
	if err := eng.ClearVolumeMarks(ctx, v.Target); err != nil {
		return fmt.Errorf("the volume is complete, but its incomplete mark could not be removed: %w", err)
	}
	r.log.Info("volume restored", zap.String("volume", v.Target), zap.String("action", v.Action), zap.Int64("bytes", fe.Size))
	return nil
}

// sqlite restores the database snapshot to its destination (atomically).
func (r *restorer) sqlite(ctx context.Context) error {
	sp := r.plan.SQLite
	fe, _ := r.m.File(sp.File)
	r.trk.Begin(progress.StepSQLite, sp.File, fe.Size, r.t.T("restore.progress.sqlite", sp.Dest))
	// An existing database is kept beside itself first (a consistent
	// snapshot, WAL included), so the restore can be undone.
	kept, replacing, err := sqlitesnap.KeepBeforeRestore(ctx, sp.Dest, time.Now(), sqlitesnap.Options{StagingDir: r.spec.StagingDir, Logger: r.spec.Logger})
	if err != nil {
		return fmt.Errorf("keep the database %s before replacing it: %w", sp.Dest, err)
	}
	var copied int64
	// A store pack's snapshot is assembled from its chunks in staging first.
	open, cleanup, err := r.pd.StageFile(ctx, r.m, fe, r.spec.StagingDir)
	if err != nil {
		if replacing {
			os.Remove(kept.Dest)
		}
		return err
	}
	defer cleanup()
	expect := fe.SHA256
	if r.m.Sealed() { // opened into staging, its ciphertext checked against the manifest there
		expect = ""
	}
	res, err := sqlitesnap.Restore(ctx, filepath.Join(r.dir, filepath.FromSlash(sp.File)), sp.Dest, sqlitesnap.RestoreOptions{
		Open:         open,
		StagingDir:   r.spec.StagingDir,
		ExpectSHA256: expect,
		Logger:       r.spec.Logger,
		Progress: func(p sqlitesnap.Progress) {
			if p.Phase == "stage" && p.Done > copied {
				r.trk.Add(p.Done - copied)
				copied = p.Done
			}
		},
	})
	if err != nil {
		if replacing {
			os.Remove(kept.Dest) // the database was not replaced
		}
		return err
	}
	if replacing {
		r.res.SQLiteKept = kept.Dest
		r.log.Info("the replaced database is kept", zap.String("kept", kept.Dest))
	}
	r.res.SQLite = &res
	r.res.Bytes += fe.Size
	return nil
}
