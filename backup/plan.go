package backup

import (
	"context"
	"errors"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/consistency"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
)

// Estimate is the expected size of each component, in bytes (DB, Volumes,
// Images, VolumeSizes per volume name, -1 where the engine does not know;
// Total sums them).
type Estimate = precheck.Estimate

// PackPlan is what a backup would do, as found by Plan (and by Run's precheck).
type PackPlan struct {
	Project    string
	Target     string
	Components []pack.Component
	Engine     dockerapi.EngineInfo
	Stack      dockerapi.Stack
	Estimate   Estimate
	// Required is the free space the target must have: Estimate.Total() × margin.
	Required uint64
	// TargetReport is the mount verification (filled as far as it got).
	TargetReport mountcheck.Report
	StagingDir   string
	StagingFree  uint64
	// DataRootFree is the free space under the engine's data root, when it
	// could be checked (a local graph-driver engine whose data root is visible).
	DataRootFree    uint64
	DataRootChecked bool
	// Stop lists the containers that would be stopped around the volume
	// step, in the order they stop (dependents first); they start in reverse.
	Stop    []dockerapi.Container
	Skipped []pack.SkipEntry
	// Consistency is how each service is captured: hooks, dumps, how each
	// named volume of the compose model goes into the pack, bind mounts
	// (nil when the stack was not resolved).
	Consistency *consistency.Plan
	// Checks are the prechecks that ran, in order (skipped ones left out):
	// names and codes are stable, titles and summaries are in Spec.Lang.
	Checks []check.Check
}

// Plan resolves the stack, runs every precheck and estimates each component,
// writing nothing (the mount's write probe is skipped). The plan is returned
// filled as far as it got; the error is a *StepError of the precheck step
// that joins the errors of every failed check, and matches ErrPrecheck.
func Plan(ctx context.Context, spec Spec) (*PackPlan, error) {
	spec.applyDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return prepare(ctx, &spec, true)
}

// PlanUnreachable is the plan of a backup whose engine could not be opened
// (engineErr, e.g. from dockerapi.New): its engine precheck fails with
// engineErr, and nothing else is checked (spec.Engine is not needed, so
// the rest of the spec is not validated either). The error is the one Plan
// returns for that refusal.
func PlanUnreachable(ctx context.Context, spec Spec, engineErr error) (*PackPlan, error) {
	if engineErr == nil {
		return Plan(ctx, spec)
	}
	spec.applyDefaults()
	return runPrechecks(ctx, &spec, true, engineErr)
}

// prepare is the precheck of Plan (dryRun: no write probe) and Run.
func prepare(ctx context.Context, spec *Spec, dryRun bool) (*PackPlan, error) {
	return runPrechecks(ctx, spec, dryRun, nil)
}

// runPrechecks runs the prechecks in order and stops after the engine or
// the stack could not be reached (everything else depends on them).
func runPrechecks(ctx context.Context, spec *Spec, dryRun bool, engineErr error) (*PackPlan, error) {
	pc, err := precheck.New(precheck.Options{
		Engine: spec.Engine, EngineErr: engineErr, Project: spec.Project, Target: spec.Target, S3: spec.S3, Policy: spec.Policy,
		ProbeTarget: !dryRun, StagingDir: spec.StagingDir, SQLitePath: spec.SQLitePath, Components: spec.Components,
		StopServices: spec.StopServices, StopAllServices: spec.StopAllServices, SpaceMargin: spec.SpaceMargin,
		StopApps: spec.StopApps, Strict: spec.Strict, BindLimit: spec.BindLimit,
		AdjustEstimate: spec.Hooks.AdjustEstimate, StoreLacks: storeLacks(spec), Lang: spec.Lang, Code: ErrorCode, ErrNothingToBackUp: ErrNothingToBackUp,
	})
	if err != nil {
		return nil, err
	}
	p := &PackPlan{Project: spec.Project, Target: spec.Target, Components: spec.Components, StagingDir: spec.StagingDir}
	var errs []error
	for _, step := range pc.Steps() {
		r := step.Run(ctx)
		if r.Check.Status != check.Skip {
			p.Checks = append(p.Checks, r.Check)
		}
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
		if (step.Name == precheck.NameEngine && pc.Facts.Engine == nil) || (step.Name == precheck.NameStack && pc.Facts.Stack == nil) {
			break
		}
	}
	p.fill(pc.Facts)
	if len(errs) > 0 {
		return p, &StepError{Step: progress.StepPrecheck, Err: errors.Join(errs...)}
	}
	return p, nil
}

// fill copies what the prechecks found into the plan.
func (p *PackPlan) fill(f precheck.Facts) {
	if f.Engine != nil {
		p.Engine = *f.Engine
	}
	if f.Stack != nil {
		p.Stack = *f.Stack
	}
	if f.Estimate != nil {
		p.Estimate = *f.Estimate
	}
	p.Required, p.TargetReport, p.StagingFree = f.Required, f.Target, f.StagingFree
	p.DataRootFree, p.DataRootChecked = f.DataRootFree, f.DataRootChecked
	p.Stop, p.Skipped = f.Stop, f.Skipped
	p.Consistency = f.Consistency
}

// hasHooksOrDumps reports whether a service of the stack has a hook or a dump.
func (p *PackPlan) hasHooksOrDumps() bool {
	if p.Consistency == nil {
		return false
	}
	for _, s := range p.Consistency.Services {
		if s.Config.HasHooks() || s.Config.HasDump() {
			return true
		}
	}
	return false
}
