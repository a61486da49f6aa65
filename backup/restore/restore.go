package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/nonnil"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// RestoreEngine is what Restore needs from the Docker Engine.
// *dockerapi.Client satisfies it; unit tests use fakes.
type Engine interface {
	LoadImages(ctx context.Context, r io.Reader) (dockerapi.LoadResult, error)
	ImageConfigDigest(ctx context.Context, ref string) (string, error)
	HelperImage(ctx context.Context) (ref string, remove func() error, err error)
	InspectVolume(ctx context.Context, name string) (dockerapi.Volume, error)
	CreateVolume(ctx context.Context, s dockerapi.VolumeSpec) error
	RemoveVolume(ctx context.Context, name string, force bool) error
	VolumeEmpty(ctx context.Context, name, helperImage string) (bool, error)
	ImportVolume(ctx context.Context, name, helperImage string, r io.Reader) error
	MarkVolumeIncomplete(ctx context.Context, volume, image, dir string) error
	VolumeIncompleteMarks(ctx context.Context, volume string) ([]string, error)
	ClearVolumeMarks(ctx context.Context, volume string) error
	StopContainers(ctx context.Context, ids []string, timeout time.Duration) (restart func() error, err error)
}

// LabelComposeConfigHash is dropped from volumes restored under a new
// project name.
const LabelComposeConfigHash = "com.docker.compose.config-hash"

// markerNamePrefix names dockerapi's incomplete-restore marker containers.
const markerNamePrefix = "dockpack-restore-marker-"

// RestoreSpec describes one restore.
type Spec struct {
	// Engine is the Docker Engine to restore into; required unless only the
	// db component is restored.
	Engine Engine
	// Project is the compose project to restore into. Default: the pack's.
	// Under another name, volume names <pack project>_<volume> become
	// <Project>_<volume>, their com.docker.compose.project label is
	// rewritten and com.docker.compose.config-hash dropped, so that
	// `docker compose -p <Project> up` adopts them; external volumes and
	// volumes with a custom name keep their names.
	Project string
	// Components to restore. Default (nil): what the pack holds, the db only
	// when SQLiteDest is set.
	Components []pack.Component
	// SQLiteDest is where the database snapshot is restored (atomically);
	// required for the db component. Never defaults to the backup's source.
	SQLiteDest string
	// Force replaces an existing non-empty volume, an existing database at
	// SQLiteDest, and tags that name other images now.
	Force bool
	// StopRunning stops the running containers that use a volume to be
	// restored, and starts them again afterwards (also on failure). Without
	// it such a volume is refused.
	StopRunning bool
	// SkipVerify skips the full Verify before the restore. Every file is
	// still checked against its checksum while it streams.
	SkipVerify bool
	// PlanOnly computes what would happen and changes nothing.
	PlanOnly bool
	// StagingDir is local scratch space (the SQLite snapshot is checked
	// there). Default os.TempDir().
	StagingDir string
	// StopTimeout is how long a stopping container gets. Default 30s.
	StopTimeout time.Duration
	// ProgressInterval is the least time between progress reports within a step. Default 500ms.
	ProgressInterval time.Duration
	// Progress receives byte-level progress (steps verify, images, volumes, sqlite). May be nil.
	Progress progress.Func
	// Logger receives structured logs. Default zap.NewNop().
	Logger *zap.Logger
	// Hooks are seams for tests.
	Hooks Hooks
}

// RestoreHooks let tests intervene.
type Hooks struct {
	// BeforeStep runs before each step; an error aborts the restore.
	BeforeStep func(ctx context.Context, step progress.Step) error
	// WrapReader wraps the reader of each pack file streamed into the engine
	// or the database (item: volume name, images.tar, the db file).
	WrapReader func(step progress.Step, item string, r io.Reader) io.Reader
}

var projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func (s *Spec) applyDefaults() {
	if s.StagingDir == "" {
		s.StagingDir = os.TempDir()
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = 30 * time.Second
	}
	if s.ProgressInterval == 0 {
		s.ProgressInterval = 500 * time.Millisecond
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if s.SQLiteDest != "" {
		if abs, err := filepath.Abs(s.SQLiteDest); err == nil {
			s.SQLiteDest = abs
		}
	}
}

// Validate reports what is wrong with the spec on its own (the pack is
// checked by Restore).
func (s Spec) Validate() error {
	var errs []error
	if s.Project != "" && !projectNameRE.MatchString(s.Project) {
		errs = append(errs, fmt.Errorf("project %q is not a compose project name (lowercase letters, digits, '_' and '-', starting with a letter or digit)", s.Project))
	}
	for _, c := range s.Components {
		if !slices.Contains(pack.AllComponents, c) {
			errs = append(errs, fmt.Errorf("unknown component %q (want db, volumes or images)", c))
		}
	}
	if s.Components != nil && len(s.Components) == 0 {
		errs = append(errs, errors.New("no component selected (db, volumes, images)"))
	}
	if slices.Contains(s.Components, pack.ComponentDB) && s.SQLiteDest == "" {
		errs = append(errs, errors.New("the db component needs the path to restore the database to (--sqlite-dest); it never defaults to the live database"))
	}
	needEngine := s.Components == nil || slices.Contains(s.Components, pack.ComponentVolumes) || slices.Contains(s.Components, pack.ComponentImages)
	if needEngine && s.Engine == nil {
		errs = append(errs, errors.New("no Docker Engine client given"))
	}
	if s.StopTimeout < 0 || s.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("negative duration (stop timeout %s, progress interval %s)", s.StopTimeout, s.ProgressInterval))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: restore: %w", backup.ErrInvalidSpec, errors.Join(errs...))
}

// Restore actions, as planned per image, volume and database.
const (
	ActionCreate    = "create"    // missing: created
	ActionRefill    = "refill"    // left incomplete by a failed restore: removed and created again, no --force needed
	ActionReplace   = "replace"   // exists, empty or --force: removed and created again
	ActionOverwrite = "overwrite" // exists and containers reference it: the pack's content is extracted over it
	ActionLoad      = "load"      // images: loaded
	ActionPresent   = "present"   // images: already there with the recorded config digest
	ActionSkip      = "skip"      // not restored
	ActionRefuse    = "refuse"    // not possible without --force / --stop-running; see Reason
)

// RestorePlan says what a restore does; Restore computes it before
// changing anything and refuses when Problems is not empty.
type Plan struct {
	Pack        string            `json:"pack"`
	PackName    string            `json:"pack_name"`
	PackProject string            `json:"pack_project"`
	Project     string            `json:"project"`
	Components  []pack.Component  `json:"components"`
	Images      []ImagePlan       `json:"images"`
	Volumes     []VolumePlan      `json:"volumes"`
	SQLite      *SQLitePlan       `json:"sqlite,omitempty"`
	Stop        []string          `json:"stop"` // running containers stopped around the volume step
	Notes       []string          `json:"notes"`
	Problems    []string          `json:"problems"`
	Bytes       int64             `json:"bytes"` // pack bytes the restore reads
	stopIDs     []string          // IDs of Stop
	present     []pack.ImageEntry // pack images already on the engine
}

// ImagePlan is one image of the pack.
type ImagePlan struct {
	ConfigDigest string   `json:"config_digest"`
	Tags         []string `json:"tags"`
	Action       string   `json:"action"`
	// Moves lists tags that name another image now ("tag (now sha256:…)"):
	// loading moves them to the pack's image (needs Force).
	Moves []string `json:"moves,omitempty"`
}

// VolumePlan is one volume of the pack.
type VolumePlan struct {
	Name    string            `json:"name"`   // in the pack
	Target  string            `json:"target"` // on the engine
	File    string            `json:"file"`
	Size    int64             `json:"size"` // bytes of file content
	Driver  string            `json:"driver"`
	Options map[string]string `json:"options"`
	Labels  map[string]string `json:"labels"`
	Action  string            `json:"action"`
	Reason  string            `json:"reason,omitempty"`
	Users   []string          `json:"users,omitempty"` // containers mounting it now
	Stop    []string          `json:"stop,omitempty"`  // running users stopped around the restore
}

// SQLitePlan is the database restore.
type SQLitePlan struct {
	File   string `json:"file"`
	Dest   string `json:"dest"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// RestoredImage is a tag (or, untagged, the config digest) checked after the load.
type RestoredImage struct {
	Ref          string `json:"ref"`
	ConfigDigest string `json:"config_digest"`
	// Checked: the engine reports the recorded config digest for Ref
	// (false on a containerd image store, whose API does not expose it: the
	// tag resolves, the digest is not comparable).
	Checked bool `json:"checked"`
}

// RestoreResult describes a finished (or, with PlanOnly, planned) restore.
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
}

// Restore errors.
var (
	// ErrRestoreRefused: the plan has problems (a non-empty volume without
	// Force, a volume in use without StopRunning, …); nothing was changed.
	// The concrete error is a *RestoreRefusedError; it also matches ErrPrecheck.
	ErrRefused = errors.New("restore refused")
	// ErrRestore marks a restore that failed while changing things; the
	// concrete error is a *RestoreStepError. Running it again is safe.
	ErrFailed = errors.New("restore failed")
	// ErrImageMismatch: after the load, a tag does not resolve to the
	// recorded config digest.
	ErrImageMismatch = errors.New("restored image does not match the pack")
	// ErrPackChanged: a pack file did not match its checksum while it was restored.
	ErrPackChanged = errors.New("pack file changed")
)

// RestoreRefusedError lists why a restore cannot run as asked.
type RefusedError struct {
	Pack     string
	Problems []string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s: %s; nothing was changed", ErrRefused, e.Pack, strings.Join(e.Problems, "; "))
}

// Is makes RestoreRefusedError match ErrRestoreRefused and ErrPrecheck.
func (e *RefusedError) Is(target error) bool {
	return target == ErrRefused || target == backup.ErrPrecheck
}

// RestoreStepError says which step of a restore failed, on which item.
type StepError struct {
	Step progress.Step
	Item string
	Err  error
}

func (e *StepError) Error() string {
	item := ""
	if e.Item != "" {
		item = " (" + e.Item + ")"
	}
	return fmt.Sprintf("%s: step %s%s: %v; running the restore again is safe", ErrFailed, e.Step, item, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Is makes RestoreStepError match ErrRestore.
func (e *StepError) Is(target error) bool { return target == ErrFailed }

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
//     RestoreSpec.Project for a new project name), filled through
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
// Every pack file is checked against its checksum while it streams; a
// mismatch aborts that file's import. Containers stopped with StopRunning
// are started again also on failure. Running Restore again after a failure
// is safe.
func Run(ctx context.Context, dir string, spec Spec) (res *Result, err error) {
	spec.applyDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	if abs, aerr := filepath.Abs(dir); aerr == nil {
		dir = abs
	}
	log := spec.Logger.With(zap.String("pack", dir))
	trk := progress.NewTracker(spec.Progress, time.Now, spec.ProgressInterval)
	res = &Result{Pack: dir, Steps: map[progress.Step]time.Duration{}, Images: []RestoredImage{}}
	step := func(s progress.Step, item string, fn func() error) error {
		if err := ctx.Err(); err != nil {
			return &StepError{Step: s, Item: item, Err: context.Cause(ctx)}
		}
		if h := spec.Hooks.BeforeStep; h != nil {
			if err := h(ctx, s); err != nil {
				return &StepError{Step: s, Item: item, Err: err}
			}
		}
		t0 := time.Now()
		err := fn()
		res.Steps[s] += time.Since(t0)
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

	// 1. Verify (or at least read the manifest).
	var m *pack.Manifest
	if !spec.SkipVerify {
		var vr *pack.VerifyResult
		if h := spec.Hooks.BeforeStep; h != nil {
			if err := h(ctx, progress.StepVerify); err != nil {
				return res, &StepError{Step: progress.StepVerify, Err: err}
			}
		}
		t0 := time.Now()
		vr, err = pack.Verify(ctx, dir, pack.VerifyOptions{StagingDir: spec.StagingDir, Logger: spec.Logger, Tracker: trk})
		res.Steps[progress.StepVerify] = time.Since(t0)
		res.Verify = vr
		if err != nil {
			if errors.Is(err, pack.ErrVerify) {
				log.Error("restore refused: the pack fails verification", zap.Error(err))
				return res, fmt.Errorf("%w; restore refused, nothing was changed", err)
			}
			return res, &StepError{Step: progress.StepVerify, Err: err}
		}
		m, res.PackageHash = vr.Manifest, vr.PackageHash
	} else {
		var hash string
		m, hash, err = pack.ReadManifest(ctx, dir)
		if err != nil {
			return res, err
		}
		res.PackageHash = hash
	}
	res.Manifest = m

	// 2. Plan.
	trk.Begin(progress.StepPrecheck, "", 0, "planning the restore")
	plan, err := planRestore(ctx, dir, m, &spec)
	res.Plan = plan
	if err != nil {
		return res, err
	}
	if spec.PlanOnly {
		res.Planned = true
		res.Duration = time.Since(start)
		return res, nil
	}
	if len(plan.Problems) > 0 {
		err := &RefusedError{Pack: dir, Problems: plan.Problems}
		log.Error("restore refused", zap.Error(err))
		return res, err
	}
	trk.AddTotal(plan.Bytes)
	r := &restorer{spec: &spec, plan: plan, dir: dir, m: m, trk: trk, log: log, res: res}

	// 3. Images.
	if slices.Contains(plan.Components, pack.ComponentImages) {
		if err := step(progress.StepImages, pack.ImagesFile, func() error { return r.images(ctx) }); err != nil {
			return r.fail(err)
		}
	}
	// 4. Volumes.
	if slices.Contains(plan.Components, pack.ComponentVolumes) && len(plan.Volumes) > 0 {
		err := step(progress.StepVolumes, "", func() error { return r.volumes(ctx) })
		if rerr := r.restartStopped(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("starting the stopped containers again: %w", rerr))
		}
		if err != nil {
			return r.fail(err)
		}
	}
	// 5. Database.
	if plan.SQLite != nil && plan.SQLite.Action != ActionSkip {
		if err := step(progress.StepSQLite, plan.SQLite.File, func() error { return r.sqlite(ctx) }); err != nil {
			return r.fail(err)
		}
	}
	trk.PercentAt(progress.StepFinalize, 100, "restore complete")
	res.Duration = time.Since(start)
	log.Info("restore complete", zap.String("project", plan.Project), zap.Int64("bytes", res.Bytes), zap.Duration("took", res.Duration))
	return res, nil
}

type restorer struct {
	spec    *Spec
	plan    *Plan
	dir     string
	m       *pack.Manifest
	trk     *progress.Tracker
	log     *zap.Logger
	res     *Result
	restart func() error
}

func (r *restorer) fail(err error) (*Result, error) {
	r.log.Error("restore failed", zap.Error(err))
	return r.res, err
}

func (r *restorer) restartStopped() error {
	if r.restart == nil {
		return nil
	}
	err := r.restart()
	r.restart = nil
	return err
}

// openChecked opens a pack file for streaming: counted for progress,
// wrapped by the test hook, and failing instead of ending when the bytes
// do not match the manifest's size and checksum.
func (r *restorer) openChecked(ctx context.Context, s progress.Step, item string, fe pack.FileEntry) (io.Reader, func(), error) {
	p := filepath.Join(r.dir, filepath.FromSlash(fe.Path))
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file (%s)", p, fi.Mode())
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	var rd io.Reader = &checkedReader{r: fsutil.ContextReader(ctx, f), hw: fsutil.NewHashWriter(r.trk.Writer(io.Discard)), fe: fe}
	if h := r.spec.Hooks.WrapReader; h != nil {
		rd = h(s, item, rd)
	}
	return rd, func() { f.Close() }, nil
}

// checkedReader hashes what passes and, at the end, returns ErrPackChanged
// instead of io.EOF when size or sha256 differ from the manifest.
type checkedReader struct {
	r  io.Reader
	hw *fsutil.HashWriter
	fe pack.FileEntry
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.hw.Write(p[:n])
	}
	if c.hw.N() > c.fe.Size {
		return n, fmt.Errorf("%w: %s is longer than the %d bytes the manifest records", ErrPackChanged, c.fe.Path, c.fe.Size)
	}
	if errors.Is(err, io.EOF) {
		if c.hw.N() != c.fe.Size {
			return n, fmt.Errorf("%w: %s: expected size %d, actual %d", ErrPackChanged, c.fe.Path, c.fe.Size, c.hw.N())
		}
		if sum := c.hw.Sum(); sum != c.fe.SHA256 {
			return n, fmt.Errorf("%w: %s: expected sha256 %s, actual %s", ErrPackChanged, c.fe.Path, c.fe.SHA256, sum)
		}
	}
	return n, err
}

func (r *restorer) images(ctx context.Context) error {
	eng := r.spec.Engine
	load := false
	for _, ip := range r.plan.Images {
		if ip.Action == ActionLoad {
			load = true
		}
	}
	fe, _ := r.m.File(pack.ImagesFile)
	if load {
		r.trk.Begin(progress.StepImages, pack.ImagesFile, fe.Size, fmt.Sprintf("loading %d images (%s)", len(r.plan.Images), units.BytesSize(float64(fe.Size))))
		rd, done, err := r.openChecked(ctx, progress.StepImages, pack.ImagesFile, fe)
		if err != nil {
			return err
		}
		lr, err := eng.LoadImages(ctx, rd)
		done()
		if err != nil {
			return err
		}
		r.res.Bytes += fe.Size
		for _, n := range lr.Notes {
			r.log.Info("image load", zap.String("engine", n))
		}
	} else {
		r.trk.Begin(progress.StepImages, pack.ImagesFile, 0, "every image of the pack is present already")
	}
	// Every tag resolves to the recorded config digest.
	var probs []string
	for _, im := range r.m.Images {
		refs := im.RepoTags
		if len(refs) == 0 {
			refs = []string{im.ConfigDigest}
		}
		for _, ref := range refs {
			d, err := eng.ImageConfigDigest(ctx, ref)
			switch {
			case errors.Is(err, dockerapi.ErrUnsupported):
				r.res.Images = append(r.res.Images, RestoredImage{Ref: ref, ConfigDigest: im.ConfigDigest})
			case err != nil:
				probs = append(probs, fmt.Sprintf("%s: %v", ref, err))
			case d != im.ConfigDigest:
				probs = append(probs, fmt.Sprintf("%s: expected config digest %s, actual %s", ref, im.ConfigDigest, d))
			default:
				r.res.Images = append(r.res.Images, RestoredImage{Ref: ref, ConfigDigest: d, Checked: true})
			}
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrImageMismatch, strings.Join(probs, "; "))
	}
	return nil
}

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

func (r *restorer) volumes(ctx context.Context) error {
	eng := r.spec.Engine
	helper, done, err := r.helperImage(ctx)
	if err != nil {
		return err
	}
	defer done()
	if len(r.plan.stopIDs) > 0 {
		r.trk.Begin(progress.StepVolumes, "", 0, "stopping "+strings.Join(r.plan.Stop, ", ")+" while their volumes are restored")
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

func (r *restorer) volume(ctx context.Context, v VolumePlan, helper string) error {
	eng := r.spec.Engine
	fe, _ := r.m.File(v.File)
	r.trk.Begin(progress.StepVolumes, v.Target, fe.Size, fmt.Sprintf("restoring volume %s (%s, %s)", v.Target, v.Action, units.BytesSize(float64(v.Size))))
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

func (r *restorer) sqlite(ctx context.Context) error {
	sp := r.plan.SQLite
	fe, _ := r.m.File(sp.File)
	r.trk.Begin(progress.StepSQLite, sp.File, fe.Size, "restoring the database to "+sp.Dest)
	var copied int64
	res, err := sqlitesnap.Restore(ctx, filepath.Join(r.dir, filepath.FromSlash(sp.File)), sp.Dest, sqlitesnap.RestoreOptions{
		StagingDir:   r.spec.StagingDir,
		ExpectSHA256: fe.SHA256,
		Logger:       r.spec.Logger,
		Progress: func(p sqlitesnap.Progress) {
			if p.Phase == "stage" && p.Done > copied {
				r.trk.Add(p.Done - copied)
				copied = p.Done
			}
		},
	})
	if err != nil {
		return err
	}
	r.res.SQLite = &res
	r.res.Bytes += fe.Size
	return nil
}

// planRestore computes the plan, reading the engine and the file system
// but changing nothing.
func planRestore(ctx context.Context, dir string, m *pack.Manifest, spec *Spec) (*Plan, error) {
	p := &Plan{Pack: dir, PackName: filepath.Base(dir), PackProject: m.Project, Project: spec.Project,
		Images: []ImagePlan{}, Volumes: []VolumePlan{}, Stop: []string{}, Notes: []string{}, Problems: []string{}}
	if p.Project == "" {
		p.Project = m.Project
	}
	problem := func(format string, a ...any) { p.Problems = append(p.Problems, fmt.Sprintf(format, a...)) }
	note := func(format string, a ...any) { p.Notes = append(p.Notes, fmt.Sprintf(format, a...)) }

	// Components.
	if spec.Components == nil {
		for _, c := range m.Contents {
			if c == pack.ComponentDB && spec.SQLiteDest == "" {
				note("the pack holds a database; it is not restored without --sqlite-dest")
				continue
			}
			p.Components = append(p.Components, c)
		}
	} else {
		for _, c := range pack.AllComponents {
			if !slices.Contains(spec.Components, c) {
				continue
			}
			if !slices.Contains(m.Contents, c) {
				return p, fmt.Errorf("%w: restore: the pack %s holds no %s (it holds %s)", backup.ErrInvalidSpec, dir, c, pack.JoinComponents(m.Contents))
			}
			p.Components = append(p.Components, c)
		}
	}
	if len(p.Components) == 0 {
		return p, fmt.Errorf("%w: restore: nothing to restore from %s (it holds %s; give --sqlite-dest for the database)", backup.ErrInvalidSpec, dir, pack.JoinComponents(m.Contents))
	}
	if p.Project != m.Project {
		note("restoring project %s under the name %s", m.Project, p.Project)
	}
	eng := spec.Engine

	if slices.Contains(p.Components, pack.ComponentImages) {
		fe, _ := m.File(pack.ImagesFile)
		anyLoad := false
		for _, im := range m.Images {
			ip := ImagePlan{ConfigDigest: im.ConfigDigest, Tags: nonnil.Slice(im.RepoTags), Action: ActionPresent}
			refs := im.RepoTags
			if len(refs) == 0 {
				refs = []string{im.ConfigDigest}
			}
			for _, ref := range refs {
				d, err := eng.ImageConfigDigest(ctx, ref)
				switch {
				case errors.Is(err, dockerapi.ErrImageNotFound):
					ip.Action = ActionLoad
				case errors.Is(err, dockerapi.ErrUnsupported):
					ip.Action = ActionLoad // digests not comparable here: load to be sure
				case err != nil:
					return p, fmt.Errorf("restore plan: image %s: %w", ref, err)
				case d != im.ConfigDigest:
					ip.Action = ActionLoad
					ip.Moves = append(ip.Moves, fmt.Sprintf("%s (now %s)", ref, d))
				}
			}
			if ip.Action == ActionPresent {
				p.present = append(p.present, im)
			}
			if len(ip.Moves) > 0 && !spec.Force {
				problem("tag(s) %s name other images on the engine: loading the pack would move them (restore with --force to allow it)", strings.Join(ip.Moves, ", "))
			}
			if ip.Action == ActionLoad {
				anyLoad = true
			}
			p.Images = append(p.Images, ip)
		}
		if anyLoad {
			p.Bytes += fe.Size
		} else {
			note("every image of the pack is on the engine already with its config digest: images.tar is not loaded")
		}
	}

	if slices.Contains(p.Components, pack.ComponentVolumes) {
		if err := planVolumes(ctx, p, m, spec); err != nil {
			return p, err
		}
	}

	if slices.Contains(p.Components, pack.ComponentDB) {
		fe, _ := m.File(m.SQLite.File)
		sp := &SQLitePlan{File: m.SQLite.File, Dest: spec.SQLiteDest, Size: fe.Size, SHA256: fe.SHA256, Action: ActionCreate}
		if fi, err := os.Stat(spec.SQLiteDest); err == nil {
			switch {
			case !fi.Mode().IsRegular():
				sp.Action, sp.Reason = ActionRefuse, fmt.Sprintf("%s exists and is not a regular file", spec.SQLiteDest)
			case !spec.Force:
				sp.Action, sp.Reason = ActionRefuse, fmt.Sprintf("a database exists at %s (%s): restore with --force to replace it (atomically; refused while it is in use)",
					spec.SQLiteDest, units.BytesSize(float64(fi.Size())))
			default:
				sp.Action = ActionReplace
			}
		} else if dir := filepath.Dir(spec.SQLiteDest); !isDir(dir) {
			sp.Action, sp.Reason = ActionRefuse, fmt.Sprintf("the directory %s for the database does not exist", dir)
		}
		if sp.Action == ActionRefuse {
			problem("database: %s", sp.Reason)
		} else {
			p.Bytes += fe.Size
		}
		p.SQLite = sp
	}
	return p, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// targetVolume maps a pack volume to its name and labels under project.
func targetVolume(v pack.VolumeEntry, packProject, project string) (name string, labels map[string]string, note string) {
	labels = maps.Clone(v.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if project == packProject {
		return v.Name, labels, ""
	}
	if v.External || labels[dockerapi.LabelProject] != packProject {
		return v.Name, labels, fmt.Sprintf("volume %s is not the project's own (external): it keeps its name", v.Name)
	}
	labels[dockerapi.LabelProject] = project
	delete(labels, LabelComposeConfigHash)
	key := labels[dockerapi.LabelVolume]
	legacy := strings.NewReplacer("_", "", "-", "").Replace(packProject)
	if key != "" && (v.Name == strings.TrimLeft(packProject, "-_")+"_"+key || v.Name == legacy+"_"+key) {
		return strings.TrimLeft(project, "-_") + "_" + key, labels, ""
	}
	return v.Name, labels, fmt.Sprintf("volume %s has a custom name in the compose file: it keeps its name under project %s", v.Name, project)
}

func planVolumes(ctx context.Context, p *Plan, m *pack.Manifest, spec *Spec) error {
	eng := spec.Engine
	problem := func(format string, a ...any) { p.Problems = append(p.Problems, fmt.Sprintf(format, a...)) }
	// An image of the pack already on the engine serves VolumeEmpty's helper.
	helper := ""
	for _, im := range p.present {
		helper = im.ConfigDigest
		break
	}
	targets := map[string]string{}
	stopSeen := map[string]bool{}
	for _, v := range m.Volumes {
		fe, _ := m.File(v.File)
		name, labels, note := targetVolume(v, m.Project, p.Project)
		if note != "" {
			p.Notes = append(p.Notes, note)
		}
		vp := VolumePlan{Name: v.Name, Target: name, File: v.File, Size: v.Size, Driver: v.Driver, Options: nonnil.Map(v.Options), Labels: labels,
			Action: ActionCreate}
		if other, dup := targets[name]; dup {
			problem("volumes %s and %s would both be restored as %s", other, v.Name, name)
			vp.Action, vp.Reason = ActionRefuse, "duplicate target name"
			p.Volumes = append(p.Volumes, vp)
			continue
		}
		targets[name] = v.Name
		if err := (dockerapi.VolumeSpec{Name: name}).Validate(); err != nil {
			return fmt.Errorf("%w: restore: %w", backup.ErrInvalidSpec, err)
		}
		cur, err := eng.InspectVolume(ctx, name)
		switch {
		case errors.Is(err, dockerapi.ErrVolumeNotFound):
			p.Volumes = append(p.Volumes, vp)
			p.Bytes += fe.Size
			continue
		case err != nil:
			return fmt.Errorf("restore plan: volume %s: %w", name, err)
		}
		marks, err := eng.VolumeIncompleteMarks(ctx, name)
		if err != nil {
			return fmt.Errorf("restore plan: volume %s: %w", name, err)
		}
		var users, running []string
		var runningIDs []string
		for _, u := range cur.UsedBy {
			if strings.HasPrefix(u.ContainerName, markerNamePrefix) {
				continue
			}
			users = append(users, u.ContainerName)
			if u.Running {
				running = append(running, u.ContainerName)
				runningIDs = append(runningIDs, u.ContainerID)
			}
		}
		vp.Users = users
		if len(running) > 0 && !spec.StopRunning {
			vp.Action, vp.Reason = ActionRefuse, fmt.Sprintf("used by running container(s) %s: stop them, or restore with --stop-running", strings.Join(running, ", "))
			problem("volume %s: %s", name, vp.Reason)
			p.Volumes = append(p.Volumes, vp)
			continue
		}
		switch {
		case len(marks) > 0:
			vp.Action = ActionRefill
			vp.Reason = fmt.Sprintf("left incomplete by a failed restore of %s", strings.Join(marks, ", "))
		default:
			empty, err := eng.VolumeEmpty(ctx, name, helper)
			if err != nil {
				return fmt.Errorf("restore plan: volume %s: %w", name, err)
			}
			if !empty && !spec.Force {
				vp.Action, vp.Reason = ActionRefuse, "exists and holds data: restore with --force to replace it"
				problem("volume %s %s", name, vp.Reason)
				p.Volumes = append(p.Volumes, vp)
				continue
			}
			vp.Action = ActionReplace
			if empty {
				vp.Reason = "exists, empty"
			} else {
				vp.Reason = "exists and holds data (--force)"
			}
		}
		if len(users) > 0 {
			// Containers (any state) reference it: it cannot be removed.
			vp.Action = ActionOverwrite
			vp.Reason += fmt.Sprintf("; referenced by container(s) %s, so it is kept and the pack's content extracted over it (files not in the pack stay; driver and labels stay as they are)",
				strings.Join(users, ", "))
			if cur.Driver != v.Driver || !maps.Equal(nonnil.Map(cur.Labels), labels) {
				p.Notes = append(p.Notes, fmt.Sprintf("volume %s keeps its driver %q and labels, which differ from the pack's: `docker compose up` may not adopt it", name, cur.Driver))
			}
		}
		if len(running) > 0 {
			vp.Stop = running
			for i, id := range runningIDs {
				if !stopSeen[id] {
					stopSeen[id] = true
					p.stopIDs = append(p.stopIDs, id)
					p.Stop = append(p.Stop, running[i])
				}
			}
		}
		p.Volumes = append(p.Volumes, vp)
		p.Bytes += fe.Size
	}
	return nil
}
