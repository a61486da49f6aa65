// Package precheck is the one implementation of the checks a backup makes
// before it writes anything: the engine answers, the compose project
// resolves (with the services to stop and the size estimate), the database
// is there, the target is the verified mount with room for the pack, and
// the local staging directory and the engine's data root have room for
// what is staged there. backup.Plan, backup.Run and the doctor all run
// these checks; they differ only in their Options (Run probes the target,
// Plan writes nothing, the doctor looks deeper).
//
// Each check yields a check.Check — a status, a stable code, a summary and
// a fix in the caller's language, the evidence it saw — and, when it
// failed, the error a backup returns for it (Result.Err), so that error
// codes and exit codes do not depend on who ran the check. What the checks
// found (engine info, stack, estimate, free space) is kept in Facts.
package precheck

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/consistency"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

// Names of the checks (stable; the doctor reports them under these names).
const (
	NameEngine   = "engine"
	NameSQLite   = "sqlite"
	NameStack    = "stack"
	NameTarget   = "target"
	NameStaging  = "staging"
	NameDataRoot = "data-root"
)

// Engine is what the prechecks need from the Docker Engine
// (*dockerapi.Client satisfies it).
type Engine interface {
	Info(ctx context.Context) (dockerapi.EngineInfo, error)
	ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error)
	// ImagesUniqueBytes estimates the bytes of the distinct layers of images.
	ImagesUniqueBytes(ctx context.Context, images []dockerapi.Image) (int64, error)
}

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

// Options says what the checks look at and how deep. Every input is
// optional: a check whose input is missing is skipped, saying what to give.
type Options struct {
	// The inputs, as in backup.Spec and doctor.Options. A check whose
	// input is missing (a nil Engine, an empty Project, Target or
	// SQLitePath) is skipped; EngineErr, with Engine nil, says why the
	// engine could not be opened, and the engine check fails with it.
	// StopServices and StopAllServices name the containers stopped around
	// the volume step (a service not in the project fails the stack check).
	Engine                                  Engine
	EngineErr                               error
	Project, Target, StagingDir, SQLitePath string
	Policy                                  mountcheck.Policy
	// S3 is the endpoint, region and credentials of an s3:// Target
	// (Bucket and Prefix come from the URL; empty: the AWS variables and files).
	S3              s3.Options
	Components      []pack.Component
	StopServices    []string
	StopAllServices bool
	// ProbeTarget runs the mount's write probe (unless Policy.SkipProbe);
	// without it the target check writes nothing.
	ProbeTarget bool
	// SpaceMargin multiplies the estimate for the target's free-space check. Default 1.1.
	SpaceMargin float64
	// AdjustEstimate may change the estimate the space checks use (tests).
	AdjustEstimate func(Estimate) Estimate
	// StoreLacks, when set (a store backup), estimates the bytes of the
	// estimate the target's pack store lacks: the target must then have
	// room for those (times SpaceMargin) rather than for the whole pack.
	// An error keeps the whole estimate.
	StoreLacks func(ctx context.Context, f *Facts) (int64, error)
	// StopApps are services stopped with every service that depends on
	// them (compose depends_on), dependents first (the compose check).
	StopApps []string
	// Strict fails the compose check for every mount the pack leaves out
	// (bind mounts not captured, anonymous volumes).
	Strict bool
	// BindLimit bounds a captured bind mount's content. Default 64 MiB.
	BindLimit int64
	// Deep also checks what a backup meets only later: the database's
	// header and, in WAL mode, its directory's write access; a probe file
	// in the staging directory (written and removed); and staging even
	// when the database is not backed up. The doctor looks deep.
	Deep bool
	// CallTimeout bounds each file-system call (a hung mount). Default
	// Policy.ProbeTimeout, else mountcheck.DefaultProbeTimeout.
	CallTimeout time.Duration
	// Lang is the language of titles, summaries, labels and fixes. Default "en".
	Lang string

	// The error vocabulary of package backup, which sits above this one
	// (both required): Code maps an error to its stable code
	// (backup.ErrorCode), and ErrNothingToBackUp is the sentinel of a
	// selection that holds nothing.
	Code               func(error) string
	ErrNothingToBackUp error
}

func (o *Options) applyDefaults() {
	if o.SpaceMargin == 0 {
		o.SpaceMargin = 1.1
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = o.Policy.ProbeTimeout
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = mountcheck.DefaultProbeTimeout
	}
	if o.BindLimit == 0 {
		o.BindLimit = consistency.DefaultBindLimit
	}
	o.Lang, _ = i18n.Normalize(o.Lang)
}

// Validate reports what is missing from the options (after defaults).
func (o Options) Validate() error {
	var errs []error
	if o.Code == nil || o.ErrNothingToBackUp == nil {
		errs = append(errs, errors.New("precheck: Options.Code and Options.ErrNothingToBackUp are required"))
	}
	if o.SpaceMargin < 1 {
		errs = append(errs, fmt.Errorf("precheck: space margin %.2f is below 1", o.SpaceMargin))
	}
	if o.BindLimit < 0 {
		errs = append(errs, fmt.Errorf("precheck: bind mount size bound %d is negative", o.BindLimit))
	}
	if o.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("precheck: call timeout %s is negative", o.CallTimeout))
	}
	return errors.Join(errs...)
}

func (o Options) has(c pack.Component) bool { return slices.Contains(o.Components, c) }

// Facts is what the checks found, filled as far as they got.
type Facts struct {
	Engine   *dockerapi.EngineInfo // nil: the engine was not reached
	Stack    *dockerapi.Stack      // nil: the project was not resolved
	Stop     []dockerapi.Container // the containers stopped around the volume step
	Skipped  []pack.SkipEntry      // what the pack leaves out, and why
	Estimate *Estimate             // nil: unknown (no stack)
	DBSize   int64                 // the database and its WAL; -1: unknown
	// Required is the free space the target must have: Estimate.Total() × SpaceMargin.
	Required uint64
	// Target is the mount verification (filled as far as it got).
	Target      mountcheck.Report
	StagingFree uint64
	// DataRootFree is the free space under the engine's data root, when it
	// was read for an image export (DataRootChecked).
	DataRootFree    uint64
	DataRootChecked bool
	// Consistency is how each service is captured: hooks, dumps, volumes,
	// binds (nil: the stack was not resolved).
	Consistency *consistency.Plan
}

// Result is one check and, when it failed, the error behind it (the
// failures of one check joined).
type Result struct {
	Check check.Check
	Err   error
}

// Checker runs the checks one by one; each builds on the Facts the earlier
// ones found (the stack's estimate sizes the space checks). Run them in the
// order of Steps.
type Checker struct {
	// Facts is what the checks found so far.
	Facts Facts
	o     Options
	p     i18n.Printer
	// modelBroken: the compose files are there but did not read.
	modelBroken bool
}

// New returns a Checker for o.
func New(o Options) (*Checker, error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Checker{Facts: Facts{DBSize: -1}, o: o, p: i18n.For(o.Lang)}, nil
}

// Step is one check in the order the checks depend on each other.
type Step struct {
	Name string
	Run  func(ctx context.Context) Result
}

// Steps lists the checks in dependency order: engine, sqlite (its size
// goes into the estimate), stack (the estimate), compose (the consistency
// plan, the order of the services to stop), target, staging, data-root.
func (c *Checker) Steps() []Step {
	return []Step{
		{NameEngine, c.Engine},
		{NameSQLite, c.SQLite},
		{NameStack, c.Stack},
		{NameCompose, c.Compose},
		{NameTarget, c.Target},
		{NameStaging, c.Staging},
		{NameDataRoot, c.DataRoot},
	}
}

func (c *Checker) begin(name string) *Builder { return NewBuilder(c.p, name) }

// skipWithoutEngine skips b when the engine was not given or not reached.
func (c *Checker) skipWithoutEngine(b *Builder) bool {
	switch {
	case c.o.Engine == nil && c.o.EngineErr == nil:
		b.Skip("precheck.engine.skip")
	case c.Facts.Engine == nil:
		b.Skip("precheck.stack.skip_engine")
	default:
		return false
	}
	return true
}
