package restore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/sqlitesnap"
	"go.uber.org/zap"
)

// RestoredImage is a tag (or, untagged, the config digest) checked after the load.
type RestoredImage struct {
	Ref          string `json:"ref"`
	ConfigDigest string `json:"config_digest"`
	// Checked: the engine reports the recorded config digest for Ref
	// (false on a containerd image store, whose API does not expose it: the
	// tag resolves, the digest is not comparable).
	Checked bool `json:"checked"`
}

// Result describes a finished (or, with PlanOnly, planned) restore.
type Result struct {
	Pack        string                          `json:"pack"`
	PackageHash string                          `json:"package_hash"`
	Manifest    *pack.Manifest                  `json:"-"`
	Verify      *pack.VerifyResult              `json:"verify,omitempty"`
	Plan        *Plan                           `json:"plan"`
	Images      []RestoredImage                 `json:"images"`
	SQLite      *sqlitesnap.Result              `json:"sqlite,omitempty"`
	Bytes       int64                           `json:"bytes"` // pack bytes streamed into the engine and the database
	Duration    time.Duration                   `json:"duration_ns"`
	Steps       map[progress.Step]time.Duration `json:"steps_ns"`
	Planned     bool                            `json:"planned"` // PlanOnly: nothing was changed

	// SQLiteKept is where the database SQLiteDest held was kept before the
	// restore replaced it (<dest>.before-restore-<UTC time>): to undo.
	SQLiteKept string `json:"sqlite_kept,omitempty"`
	// Next says what the operator does next, in Spec.Lang: start the stack
	// and load the pack's dumps (RunDumps), restore its bind mounts.
	Next []string `json:"next,omitempty"`
}

// Restore brings a pack back: verify first (unless SkipVerify), plan, and —
// unless PlanOnly or the plan has problems — load the images, recreate and
// fill the volumes, restore the database:
//
//   - images: one ImageLoad of images.tar, its JSON message stream parsed
//     for errors (the engine answers 200 even on failure); afterwards every
//     tag resolves to the recorded config digest (image IDs are not
//     compared: they differ between image stores). Images whose tags all
//     resolve to their digests already are not loaded again.
//   - volumes: created with the pack's driver, options and labels (see
//     Spec.Project for a new project name), filled through
//     CopyToContainer into a never-started helper container made from a
//     restored image, or from a labelled empty helper image imported for
//     the purpose (no pull) and removed afterwards. Modes, numeric owners,
//     symlinks, hard links and empty directories are kept. Each volume is
//     marked incomplete while it fills (dockerapi.LabelRestoreIncomplete): a
//     restore that fails or dies leaves the mark, and the next run refills
//     such a volume without Force.
//   - db: sqlitesnap.Restore to SQLiteDest, checked in local staging and
//     renamed into place atomically; refused while the database is in use.
//
// Every pack file is checked while it streams — against its checksum, or
// images.tar (into an engine that checks layers: imagesGuard) its configs
// and tags by dockpack and its layers by the engine; a mismatch aborts
// that file's import. Containers stopped with StopRunning
// are started again also on failure. Running Restore again after a failure
// is safe.
func Run(ctx context.Context, dir string, spec Spec) (*Result, error) {
	spec.applyDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	if abs, aerr := filepath.Abs(dir); aerr == nil {
		dir = abs
	}
	t := i18n.For(spec.Lang)
	r := &restorer{spec: &spec, dir: dir, t: t, log: spec.Logger.With(zap.String("pack", dir)),
		trk: progress.NewTracker(spec.Progress, time.Now, spec.ProgressInterval),
		res: &Result{Pack: dir, Steps: map[progress.Step]time.Duration{}, Images: []RestoredImage{}}}
	res := r.res
	// The pack is read through its mount pin: a share that drops mid-restore
	// fails the restore with mount_changed, never with a garbled read.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pd, err := pack.OpenDir(ctx, dir, cancel)
	if err != nil {
		return res, &StepError{Step: progress.StepVerify, Err: fmt.Errorf("open the pack: %w", err)}
	}
	defer pd.Close()
	pd.SetKeys(spec.Keys) // a sealed pack's identities
	r.pd = pd

	// 1. Verify (or at least read the manifest).
	m, err := r.readPack(ctx)
	if err != nil {
		return res, err
	}
	r.m, res.Manifest = m, m

	// 2. Plan.
	r.trk.Begin(progress.StepPrecheck, "", 0, t.T("restore.progress.plan"))
	plan, err := planRestore(ctx, dir, m, &spec)
	r.plan, res.Plan = plan, plan
	if err != nil {
		return res, err
	}
	if spec.PlanOnly {
		res.Planned = true
		res.Duration = time.Since(start)
		return res, nil
	}
	if len(plan.Problems) > 0 {
		err := &RefusedError{Pack: dir, Problems: plan.Problems, Lang: spec.Lang}
		r.log.Error("restore refused", zap.Error(err))
		return res, err
	}
	r.trk.AddTotal(plan.Bytes)

	// 3.–5. Images, volumes, database.
	if err := r.apply(ctx); err != nil {
		r.log.Error("restore failed", zap.Error(err))
		return res, err
	}
	res.Next = r.nextSteps() // binds.go
	r.trk.PercentAt(progress.StepFinalize, 100, t.T("restore.progress.done"))
	res.Duration = time.Since(start)
	r.log.Info("restore complete", zap.String("project", plan.Project), zap.Int64("bytes", res.Bytes), zap.Duration("took", res.Duration))
	return res, nil
}

// restorer carries one restore through its steps.
type restorer struct {
	spec    *Spec
	plan    *Plan
	dir     string
	pd      *pack.Dir // the pack, read through its pin
	m       *pack.Manifest
	t       i18n.Printer
	trk     *progress.Tracker
	log     *zap.Logger
	res     *Result
	restart func() error
	upload  time.Duration // the images' upload, for the step's log (dockerapi.LoadResult.Upload)
}

// readPack verifies the pack (unless SkipVerify) and returns its manifest.
// A pack that fails verification is refused before anything changes.
func (r *restorer) readPack(ctx context.Context) (*pack.Manifest, error) {
	res, spec := r.res, r.spec
	if spec.SkipVerify {
		m, hash, err := pack.ReadManifest(ctx, r.dir)
		res.PackageHash = hash
		if err == nil {
			err = r.pd.CheckKeys(m) // a sealed pack: refused now without its identity
		}
		if errors.Is(err, seal.ErrNoIdentity) || errors.Is(err, seal.ErrWrongIdentity) {
			return nil, fmt.Errorf("%w; restore refused, nothing was changed", err)
		}
		return m, err
	}
	if h := spec.Hooks.BeforeStep; h != nil {
		if err := h(ctx, progress.StepVerify); err != nil {
			return nil, &StepError{Step: progress.StepVerify, Err: err}
		}
	}
	t0 := time.Now()
	// A sealed pack is decrypted once, by the restore (OpenOnce).
	vr, err := pack.Verify(ctx, r.dir, pack.VerifyOptions{StagingDir: spec.StagingDir, Lang: spec.Lang, Logger: spec.Logger, Tracker: r.trk, Dir: r.pd, OpenOnce: true})
	res.Steps[progress.StepVerify] = time.Since(t0)
	res.Verify = vr
	if err != nil {
		if errors.Is(err, pack.ErrVerify) {
			r.log.Error("restore refused: the pack fails verification", zap.Error(err))
			return nil, fmt.Errorf("%w; restore refused, nothing was changed", err)
		}
		if errors.Is(err, seal.ErrNoIdentity) || errors.Is(err, seal.ErrWrongIdentity) { // a sealed pack, checked before any read
			r.log.Error("restore refused: the pack is sealed", zap.Error(err))
			return nil, fmt.Errorf("%w; restore refused, nothing was changed", err)
		}
		return nil, &StepError{Step: progress.StepVerify, Err: err}
	}
	res.PackageHash = vr.PackageHash
	return vr.Manifest, nil
}

// apply runs the steps of the plan: images, volumes (stopped containers
// are started again also on failure), database.
func (r *restorer) apply(ctx context.Context) error {
	plan := r.plan
	if slices.Contains(plan.Components, pack.ComponentImages) {
		if err := r.step(ctx, progress.StepImages, pack.ImagesFile, r.images); err != nil {
			return err
		}
	}
	// Bind mounts (configuration) before the volumes: the containers the
	// volume step stops start again with them.
	if len(plan.Binds) > 0 {
		if err := r.step(ctx, progress.StepVolumes, "", r.restoreBinds); err != nil {
			return err
		}
	}
	if slices.Contains(plan.Components, pack.ComponentVolumes) && len(plan.Volumes) > 0 {
		err := r.step(ctx, progress.StepVolumes, "", r.volumes)
		if rerr := r.restartStopped(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("starting the stopped containers again: %w", rerr))
		}
		if err != nil {
			return err
		}
	}
	if plan.SQLite != nil && plan.SQLite.Action != ActionSkip {
		if err := r.step(ctx, progress.StepSQLite, plan.SQLite.File, r.sqlite); err != nil {
			return err
		}
	}
	return nil
}

// step runs one step: the BeforeStep hook, the step timed, its error a
// *StepError naming the step and item.
func (r *restorer) step(ctx context.Context, s progress.Step, item string, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return &StepError{Step: s, Item: item, Err: context.Cause(ctx)}
	}
	if h := r.spec.Hooks.BeforeStep; h != nil {
		if err := h(ctx, s); err != nil {
			return &StepError{Step: s, Item: item, Err: err}
		}
	}
	t0 := time.Now()
	err := fn(ctx)
	r.res.Steps[s] += time.Since(t0)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(err, context.Cause(ctx)) {
		err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	var rse *StepError
	if errors.As(err, &rse) {
		return err
	}
	return &StepError{Step: s, Item: item, Err: err}
}

func (r *restorer) restartStopped() error {
	if r.restart == nil {
		return nil
	}
	err := r.restart()
	r.restart = nil
	return err
}
