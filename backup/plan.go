package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// Estimate is the expected size of each component, in bytes.
type Estimate struct {
	DB      int64
	Volumes int64
	Images  int64
	// VolumeSizes per volume name; -1 where the engine does not know.
	VolumeSizes map[string]int64
}

// Total is the sum of the component estimates.
func (e Estimate) Total() int64 { return e.DB + e.Volumes + e.Images }

// Check is one precheck's outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Err    error  `json:"-"`
}

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
	// Stop lists the containers that would be stopped around the volume step.
	Stop    []dockerapi.Container
	Skipped []pack.SkipEntry
	Checks  []Check
}

// Problems returns the failed checks' errors.
func (p *PackPlan) Problems() []error {
	var out []error
	for _, c := range p.Checks {
		if !c.OK {
			out = append(out, c.Err)
		}
	}
	return out
}

// Plan resolves the stack, runs every precheck and estimates each component,
// writing nothing (the mount's write probe is skipped). The plan is returned
// filled as far as it got; the error joins every refused precheck and
// matches ErrPrecheck.
func Plan(ctx context.Context, spec Spec) (*PackPlan, error) {
	spec.applyDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return prepare(ctx, &spec, true)
}

// prepare is the shared precheck of Plan and Run.
func prepare(ctx context.Context, spec *Spec, dryRun bool) (*PackPlan, error) {
	p := &PackPlan{Project: spec.Project, Target: spec.Target, Components: spec.Components, StagingDir: spec.StagingDir}
	fail := func(name string, err error) {
		p.Checks = append(p.Checks, Check{Name: name, Err: err, Detail: err.Error()})
	}
	ok := func(name, format string, a ...any) {
		p.Checks = append(p.Checks, Check{Name: name, OK: true, Detail: fmt.Sprintf(format, a...)})
	}
	result := func() (*PackPlan, error) {
		if probs := p.Problems(); len(probs) > 0 {
			return p, &StepError{Step: progress.StepPrecheck, Err: errors.Join(probs...)}
		}
		return p, nil
	}

	info, err := spec.Engine.Info(ctx)
	if err != nil {
		fail("engine", err)
		return result()
	}
	p.Engine = info
	ok("engine", "Docker Engine %s (API %s, %s image store) reachable", info.Version, info.APIVersion, info.ImageStore)

	st, err := spec.Engine.ResolveStack(ctx, spec.Project)
	if err != nil {
		fail("stack", err)
		return result()
	}
	p.Stack = st
	ok("stack", "project %q: %d containers, %d images, %d named volumes", st.Project, len(st.Containers), len(st.Images), len(st.Volumes))
	for _, s := range st.Skipped {
		p.Skipped = append(p.Skipped, pack.SkipEntry{Kind: s.Kind, Source: s.Source, Destination: s.Destination, Container: s.Container, Reason: s.Reason})
	}

	// Services to stop around the volume step.
	var unknown []string
	if spec.StopAllServices {
		for _, c := range st.Containers {
			if c.Running {
				p.Stop = append(p.Stop, c)
			}
		}
	}
	for _, svc := range spec.StopServices {
		if spec.StopAllServices {
			break
		}
		found := false
		for _, c := range st.Containers {
			if c.Service == svc {
				p.Stop = append(p.Stop, c)
				found = true
			}
		}
		if !found {
			unknown = append(unknown, svc)
		}
	}
	if len(unknown) > 0 {
		fail("stop-services", fmt.Errorf("%w: service(s) %s to stop are not in project %q (its services: %s)",
			ErrInvalidSpec, strings.Join(unknown, ", "), st.Project, strings.Join(st.Services, ", ")))
	}

	// Estimates.
	e := Estimate{VolumeSizes: map[string]int64{}}
	if spec.Has(pack.ComponentDB) {
		fi, err := os.Stat(spec.SQLitePath)
		switch {
		case err != nil:
			fail("sqlite", fmt.Errorf("%w: SQLite database %s: %v; check --sqlite (it is read from where dockpack runs)", sqlitesnap.ErrNotFound, spec.SQLitePath, err))
		case !fi.Mode().IsRegular():
			fail("sqlite", fmt.Errorf("%w: SQLite database %s is not a regular file", sqlitesnap.ErrNotFound, spec.SQLitePath))
		default:
			e.DB = fi.Size()
			if fi, err := os.Stat(spec.SQLitePath + "-wal"); err == nil {
				e.DB += fi.Size()
			}
			ok("sqlite", "database %s, %s", spec.SQLitePath, units.BytesSize(float64(e.DB)))
		}
	}
	if spec.Has(pack.ComponentVolumes) {
		for _, v := range st.Volumes {
			e.VolumeSizes[v.Name] = v.Size
			if v.Size > 0 {
				e.Volumes += v.Size
			}
		}
	}
	if spec.Has(pack.ComponentImages) {
		n, err := spec.Engine.ImagesUniqueBytes(ctx, st.Images)
		if err != nil {
			fail("images", fmt.Errorf("estimate image sizes: %w", err))
		}
		e.Images = n
	}
	if spec.Hooks.AdjustEstimate != nil {
		e = spec.Hooks.AdjustEstimate(e)
	}
	p.Estimate = e
	hasImages := spec.Has(pack.ComponentImages) && len(st.Images) > 0
	hasVolumes := spec.Has(pack.ComponentVolumes) && len(st.Volumes) > 0
	if !spec.Has(pack.ComponentDB) && !hasImages && !hasVolumes {
		fail("contents", fmt.Errorf("%w: project %q has no images or named volumes for the selected components (%s)",
			ErrNothingToBackUp, st.Project, pack.JoinComponents(spec.Components)))
	}

	// Target mount, with the space the pack needs.
	p.Required = uint64(float64(e.Total()) * spec.SpaceMargin)
	pol := spec.Policy
	if p.Required > pol.MinFreeBytes {
		pol.MinFreeBytes = p.Required
	}
	pol.SkipProbe = pol.SkipProbe || dryRun
	rep, err := mountcheck.Verify(ctx, spec.Target, pol)
	p.TargetReport = rep
	if err != nil {
		fail("target", err)
	} else {
		ok("target", "%s on %s (%s from %s), %s free, pack needs ~%s", spec.Target, rep.MountPoint, rep.FSType, rep.Source,
			units.BytesSize(float64(rep.FreeBytes)), units.BytesSize(float64(p.Required)))
	}

	// Local staging for the SQLite snapshot.
	if spec.Has(pack.ComponentDB) {
		free, _, err := mountcheck.FreeSpace(ctx, spec.StagingDir)
		p.StagingFree = free
		switch {
		case err != nil:
			fail("staging", fmt.Errorf("staging dir %s: %w", spec.StagingDir, err))
		case free < uint64(e.DB):
			fail("staging", fmt.Errorf("%w: staging dir %s has %s free, the SQLite snapshot needs %s; free space there or pass --staging-dir",
				mountcheck.ErrInsufficientSpace, spec.StagingDir, units.BytesSize(float64(free)), units.BytesSize(float64(e.DB))))
		default:
			ok("staging", "%s has %s free for the %s snapshot", spec.StagingDir, units.BytesSize(float64(free)), units.BytesSize(float64(e.DB)))
		}
	}

	// A graph-driver engine stages the whole image export under its data root.
	if spec.Has(pack.ComponentImages) && info.ImageStore == "graphdriver" && info.Local && info.DataRoot != "" {
		if _, err := os.Stat(info.DataRoot); err == nil {
			free, _, err := mountcheck.FreeSpace(ctx, info.DataRoot)
			if err == nil {
				p.DataRootFree, p.DataRootChecked = free, true
				if free < uint64(e.Images) {
					fail("data-root", fmt.Errorf("%w: the engine's data root %s has %s free, but a graph-driver engine stages the whole image export (%s) there before sending it; free space under %s or back up without images",
						mountcheck.ErrInsufficientSpace, info.DataRoot, units.BytesSize(float64(free)), units.BytesSize(float64(e.Images)), info.DataRoot))
				} else {
					ok("data-root", "%s has %s free for the engine to stage %s of images", info.DataRoot, units.BytesSize(float64(free)), units.BytesSize(float64(e.Images)))
				}
			}
		}
	}
	if spec.Has(pack.ComponentImages) && !p.DataRootChecked && info.ImageStore == "graphdriver" {
		ok("data-root", "not checked: the engine's data root %q is not visible from here; make sure it has room for %s", info.DataRoot, units.BytesSize(float64(e.Images)))
	}
	return result()
}
