package verifier

import (
	"context"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
)

// PlanRequest asks what restoring a pack of the target would do.
type PlanRequest struct {
	// Pack is the pack's directory name in the target.
	Pack string
	// Project, Components, SQLiteDest, Force and StopRunning are those of
	// restore.Spec (the flags of `dockpack restore`); zero values take its
	// defaults (the pack's project; what the pack holds, the database only
	// with SQLiteDest).
	Project     string
	Components  []pack.Component
	SQLiteDest  string
	Force       bool
	StopRunning bool
	// Lang is the language of the plan's notes, problems and reasons. Default: the Manager's.
	Lang string
}

// RestorePlan computes what a restore of a pack of the target would do
// against the Manager's engine (restore.Run with PlanOnly: the manifest is
// read, the engine and the database destination inspected, nothing
// changed; the pack is not verified — Start does that). The plan's
// Problems say why the restore would be refused. It takes no lock: it
// writes nothing. An unknown pack is jobs.ErrPackNotFound; a malformed request
// an error wrapping ErrInvalidSpec.
func (vf *Verifier) RestorePlan(ctx context.Context, req PlanRequest) (*restore.Result, error) {
	lang := req.Lang
	if lang == "" {
		lang = vf.cfg.Lang
	}
	info, err := vf.m.FindPack(ctx, req.Pack)
	if err != nil {
		return nil, err
	}
	spec := restore.Spec{Project: req.Project, Components: req.Components, SQLiteDest: req.SQLiteDest, Force: req.Force,
		StopRunning: req.StopRunning, PlanOnly: true, SkipVerify: true, StagingDir: vf.cfg.StagingDir, Lang: lang,
		Logger: vf.log.Named("restore-plan")}
	if eng, ok := vf.cfg.Engine.(restore.Engine); ok {
		spec.Engine = eng
	}
	return restore.Run(ctx, info.Path, spec)
}
