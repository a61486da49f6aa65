package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/internal/packdir"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/targets"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

// Version is dockpack's version as recorded in manifests; cmd/dockpack sets
// it from its build flags, otherwise it comes from the module's build info.
var Version = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}()

// Result describes a finished pack.
type Result struct {
	// Pack is the final directory, <target>/migration_pack_<ts>.
	Pack string
	// Name is the pack's directory name.
	Name string
	// PackageHash is the sha256 of manifest.json.
	PackageHash string
	Manifest    *pack.Manifest
	// Bytes is the total size of the pack's files.
	Bytes    int64
	Duration time.Duration
	// Steps holds the wall time of each step.
	Steps map[progress.Step]time.Duration
	Plan  *PackPlan
	// Store is what a store backup read, added and reused per component (nil: classic).
	Store StoreStats
}

// Run makes one pack as described by spec, reporting progress to progress
// (which may be nil). On any failure or cancel it removes the partial pack
// directory, restarts services it stopped, and returns an error naming the
// step (see StepError, ErrorCode). A directory named migration_pack_* is only
// ever a complete pack.
func Run(ctx context.Context, spec Spec, report progress.Func) (*Result, error) {
	spec.applyDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	r := &runner{
		t:     i18n.For(spec.Lang).T,
		spec:  &spec,
		log:   spec.Logger.With(zap.String("project", spec.Project)),
		trk:   progress.NewTracker(report, spec.Now, spec.ProgressInterval),
		start: spec.Now(),
		steps: map[progress.Step]time.Duration{},
	}
	// No silent plaintext (write.go): decided before anything is written.
	if err := r.decideSeal(); err != nil {
		r.log.Error("backup refused", zap.String("code", ErrorCode(err)), zap.Error(err))
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res, err := r.run(ctx, cancel)
	if err != nil {
		r.log.Error("backup failed", zap.String("step", string(FailedStep(err))), zap.String("code", ErrorCode(err)), zap.Error(err))
		return nil, err
	}
	r.log.Info("backup complete", zap.String("pack", res.Pack), zap.Int64("bytes", res.Bytes), zap.Duration("took", res.Duration))
	return res, nil
}

type runner struct {
	t       func(key string, args ...any) string // progress messages in spec.Lang
	spec    *Spec
	log     *zap.Logger
	trk     *progress.Tracker
	start   time.Time
	steps   map[progress.Step]time.Duration
	plan    *PackPlan
	pin     *mountcheck.Pinned // the target's pin (nil: object storage)
	remote  storage.Backend    // an object storage target (nil: a directory)
	dir     packSink           // the pack being written
	files   []pack.FileEntry
	man     pack.Manifest
	restart func() error // undo of the volume step's stop, if any
	post    func() error // the post-backup hooks, run after restart (step_volumes.go)
	store   *storeRun    // a store backup's session (nil: classic)
	seal    *seal.Keys   // the recipients every content file is sealed to (nil: plaintext; write.go)
}

func (r *runner) step(ctx context.Context, s progress.Step, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return stepErr(s, "", context.Cause(ctx))
	}
	if h := r.spec.Hooks.BeforeStep; h != nil {
		if err := h(ctx, s); err != nil {
			return stepErr(s, "", err)
		}
	}
	t0 := time.Now()
	err := fn()
	r.steps[s] += time.Since(t0)
	if err != nil && ctx.Err() != nil {
		// Report the cancellation (or its cause, e.g. a stall) rather than
		// whatever the interrupted I/O said.
		if c := context.Cause(ctx); !errors.Is(err, c) {
			err = fmt.Errorf("%w (%v)", c, err)
		}
	}
	return stepErr(s, "", err)
}

// run does the steps. cancel stops them with a cause (the pin watch uses it).
func (r *runner) run(ctx context.Context, cancel context.CancelCauseFunc) (res *Result, err error) {
	spec := r.spec
	r.trk.Begin(progress.StepPrecheck, "", 0, r.t("job.precheck"))
	if err := r.step(ctx, progress.StepPrecheck, func() error { return r.precheck(ctx) }); err != nil {
		return nil, err
	}
	if r.remote != nil {
		defer r.remote.Close()
	} else {
		defer r.pin.Close()
	}
	if err := r.storeImagesSupported(); err != nil { // store_images.go
		return nil, stepErr(progress.StepPrecheck, "", err)
	}
	if r.pin != nil {
		// A share that drops while nothing is written (the engine staging an
		// image export) is noticed on a timer, not only inside Write.
		stopWatch := r.pin.Watch(ctx, spec.PinCheckInterval, func(err error) { cancel(err) })
		defer stopWatch()
	}

	if err := r.targetSeal(ctx); err != nil { // write.go
		return nil, stepErr(progress.StepPrecheck, "", err)
	}
	if spec.Format == FormatStore {
		// Opened before the pack is created: an encrypted store's refusals
		// (store.Open) leave nothing behind.
		defer r.closeStore(ctx)
		if err := r.openStore(ctx); err != nil {
			return nil, stepErr(progress.StepPrecheck, "", err)
		}
	}
	name := pack.NamePrefix + strings.Replace(r.start.UTC().Format(pack.TimeLayout), ".", "_", 1)
	dir, err := r.createSink(ctx, name)
	if err != nil {
		return nil, stepErr(progress.StepPrecheck, "", err)
	}
	r.dir = dir
	// Everything from here writes; undo it on any failure.
	defer func() {
		if r.restart != nil {
			if rerr := r.restart(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("restarting stopped services: %w", rerr))
			}
		}
		if perr := r.runPost(); perr != nil { // post-backup hooks always run
			err = errors.Join(err, perr)
		}
		if err != nil {
			if rmErr := dir.Abort(); rmErr != nil {
				r.log.Error("cannot remove partial pack", zap.String("dir", dir.Partial()), zap.Error(rmErr))
				err = errors.Join(err, rmErr)
			}
		}
		dir.Close()
	}()
	r.man = r.newManifest()
	r.trk.SetTotal(r.plan.Estimate.Total())
	if err := r.dataSteps(ctx); err != nil {
		return nil, err
	}
	hash, err := r.closingSteps(ctx)
	if err != nil {
		return nil, err
	}
	r.trk.PercentAt(progress.StepFinalize, 100, r.t("job.pack_complete", dir.Final()))
	m := r.man
	return &Result{Pack: dir.Final(), Name: name, PackageHash: hash, Manifest: &m, Bytes: m.PackSize(),
		Duration: spec.Now().Sub(r.start), Steps: r.steps, Plan: r.plan, Store: r.storeStats()}, nil
}

// createSink recovers the debris of dead owners and creates the pack being
// written, name: a partial directory under the pinned target, or a partial
// pack on object storage (sink.go).
func (r *runner) createSink(ctx context.Context, name string) (packSink, error) {
	spec := r.spec
	r.recoverDebris(ctx)
	if r.remote != nil {
		r.recoverRemote(ctx, r.remote)
		return createObjSink(ctx, r.remote, name, spec.Owner, spec.Hooks.BeforePartial, r.log)
	}
	return packdir.Create(ctx, packdir.Options{Pin: r.pin, Name: name, Owner: spec.Owner, FileMode: spec.PackMode,
		DirMode: pack.DirMode(spec.PackMode), CheckBytes: spec.PinCheckBytes, Intent: spec.Hooks.BeforePartial})
}

// closingSteps writes what follows the data: the compose files and bind
// mounts, the manifest (its hash returned), then the finalize step.
func (r *runner) closingSteps(ctx context.Context) (string, error) {
	if err := r.step(ctx, progress.StepCompose, func() error {
		if err := r.compose(ctx); err != nil {
			return err
		}
		return r.binds(ctx) // step_consistency.go
	}); err != nil {
		return "", err
	}
	var hash string
	if err := r.step(ctx, progress.StepManifest, func() error {
		var err error
		hash, err = r.manifest(ctx)
		return err
	}); err != nil {
		return "", err
	}
	if err := r.step(ctx, progress.StepFinalize, func() error { return r.finalize(ctx, hash) }); err != nil {
		return "", err
	}
	return hash, nil
}

// dataSteps writes the selected components: database, volumes, images.
func (r *runner) dataSteps(ctx context.Context) error {
	spec := r.spec
	if spec.Has(pack.ComponentDB) {
		if err := r.step(ctx, progress.StepSQLite, func() error { return r.sqlite(ctx) }); err != nil {
			return err
		}
	}
	if spec.Has(pack.ComponentVolumes) && (len(r.plan.Stack.Volumes) > 0 || r.plan.hasHooksOrDumps()) {
		if err := r.step(ctx, progress.StepVolumes, func() error { return r.volumes(ctx) }); err != nil {
			return err
		}
	}
	if spec.Has(pack.ComponentImages) && len(r.plan.Stack.Images) > 0 {
		if err := r.step(ctx, progress.StepImages, func() error { return r.images(ctx) }); err != nil {
			return err
		}
	}
	return nil
}

// newManifest starts the pack's manifest from the plan.
func (r *runner) newManifest() pack.Manifest {
	e := r.plan.Engine
	m := pack.Manifest{
		FormatVersion: pack.FormatVersion,
		Tool:          pack.ToolInfo{Name: "dockpack", Version: Version},
		CreatedAt:     r.start.UTC(),
		Project:       r.spec.Project,
		Contents:      slices.Clone(r.spec.Components),
		Engine: pack.EngineEntry{Version: e.Version, APIVersion: e.APIVersion, ImageStore: e.ImageStore,
			StorageDriver: e.StorageDriver, OS: e.OS, Arch: e.Arch},
		Images:  []pack.ImageEntry{},
		Volumes: []pack.VolumeEntry{},
		Skipped: slices.Clone(r.plan.Skipped),
	}
	m.Consistency = r.newConsistency() // step_consistency.go
	m.Encryption = r.encryptionEntry() // write.go
	m.Host, _ = os.Hostname()
	return m
}

func (r *runner) precheck(ctx context.Context) error {
	plan, err := prepare(ctx, r.spec, false)
	r.plan = plan
	if err != nil {
		return err
	}
	if storage.IsS3URL(r.spec.Target) { // object storage: no mount to pin
		t, err := storage.ParseTarget(r.spec.Target)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
		r.remote, err = targets.OpenTarget(ctx, t, targets.Options{S3: r.spec.S3, Owner: r.spec.Owner.Token})
		return err
	}
	if err := os.MkdirAll(r.spec.Target, 0o755); err != nil {
		return fmt.Errorf("create target directory: %w", err)
	}
	pin, err := mountcheck.Pin(ctx, r.spec.Target)
	if err != nil {
		return err
	}
	r.pin = pin
	if pin.Report().MountID != plan.TargetReport.MountID && plan.TargetReport.MountID != 0 {
		return fmt.Errorf("%w: %s changed mounts between verification and pinning", mountcheck.ErrMountChanged, r.spec.Target)
	}
	return nil
}

// recoverDebris removes what dead writers left behind before this backup
// writes (Recover: their partial packs in the target, their helpers, their
// staged database copies; containers they stopped run again). It never
// fails the backup: what it cannot do is logged.
func (r *runner) recoverDebris(ctx context.Context) {
	if r.spec.NoRecover {
		return
	}
	o := RecoverOptions{Target: r.spec.Target, StagingDir: r.spec.StagingDir, Logger: r.log}
	if e, ok := r.spec.Engine.(RecoverEngine); ok {
		o.Engine = e
	}
	got, err := Recover(ctx, o)
	if !got.Empty() {
		r.log.Warn("recovered the debris of dead backups", zap.Strings("partials", got.Partials), zap.Strings("helpers", got.Helpers),
			zap.Strings("staged", got.Staged), zap.Strings("restarted", got.Restarted))
	}
	if err != nil {
		r.log.Warn("recovery of dead backups' debris incomplete", zap.Error(err))
	}
}
