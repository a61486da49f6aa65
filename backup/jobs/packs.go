package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
)

// The packs of the target as the admin page acts on them: by name, for a
// verification (package verifier) or a restore plan (below).

// ErrPackNotFound: no pack of that name in the target directory.
var ErrPackNotFound = errors.New("pack_not_found")

// RestorePlanRequest asks what restoring a pack of the target would do.
type RestorePlanRequest struct {
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
// changed; the pack is not verified — package verifier does that). The plan's
// Problems say why the restore would be refused. It takes no lock: it
// writes nothing. An unknown pack is ErrPackNotFound; a malformed request
// an error wrapping ErrInvalidSpec.
func (m *Manager) RestorePlan(ctx context.Context, req RestorePlanRequest) (*restore.Result, error) {
	lang := req.Lang
	if lang == "" {
		lang = m.cfg.Lang
	}
	info, err := m.FindPack(ctx, req.Pack)
	if err != nil {
		return nil, err
	}
	spec := restore.Spec{Project: req.Project, Components: req.Components, SQLiteDest: req.SQLiteDest, Force: req.Force,
		StopRunning: req.StopRunning, PlanOnly: true, SkipVerify: true, StagingDir: m.cfg.StagingDir, Lang: lang,
		Logger: m.log.Named("restore-plan")}
	if eng, ok := m.cfg.Engine.(restore.Engine); ok {
		spec.Engine = eng
	}
	return restore.Run(ctx, info.Path, spec)
}

// FindPack finds a pack of the target by its directory name: a complete
// or invalid pack (a partial one is a backup in progress or the debris of
// one, and is refused). An unknown pack is ErrPackNotFound; a malformed
// name an error wrapping ErrInvalidSpec; ErrClosed once Close began.
func (m *Manager) FindPack(ctx context.Context, name string) (pack.Info, error) {
	done, err := m.enter()
	if err != nil {
		return pack.Info{}, err
	}
	defer done()
	switch {
	case strings.HasPrefix(name, pack.PartialPrefix):
		return pack.Info{}, fmt.Errorf("%w: pack_partial: %s is a partial pack (a backup in progress, or one that did not finish): there is nothing to verify or restore", backup.ErrInvalidSpec, name)
	case name == "" || name != filepath.Base(name) || !strings.HasPrefix(name, pack.NamePrefix) || strings.ContainsAny(name, `/\`):
		return pack.Info{}, fmt.Errorf("%w: pack_name_invalid: %q is not a pack name (%s<time>, as GET /v1/packs lists them)", backup.ErrInvalidSpec, name, pack.NamePrefix)
	}
	packs, err := m.Packs(ctx)
	if err != nil {
		return pack.Info{}, err
	}
	for _, p := range packs {
		if p.Name == name {
			return p, nil
		}
	}
	return pack.Info{}, fmt.Errorf("%w: no pack %s in the target directory", ErrPackNotFound, name)
}
