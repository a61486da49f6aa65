package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/nonnil"
	"github.com/dockpack/dockpack/mountcheck"
	"github.com/dockpack/dockpack/sqlitesnap"
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
	res, err := r.run(ctx)
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
	pin     *mountcheck.Pinned
	dir     string // the partial pack directory
	files   []pack.FileEntry
	man     pack.Manifest
	restart func() error // undo of the volume step's stop, if any
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

func cause(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}

func (r *runner) run(ctx context.Context) (res *Result, err error) {
	spec := r.spec
	r.trk.Begin(progress.StepPrecheck, "", 0, r.t("job.precheck"))
	if err := r.step(ctx, progress.StepPrecheck, func() error { return r.precheck(ctx) }); err != nil {
		return nil, err
	}

	defer r.pin.Close()

	// Everything from here writes; undo it on any failure.
	defer func() {
		if r.restart != nil {
			if rerr := r.restart(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("restarting stopped services: %w", rerr))
			}
		}
		if err != nil && r.dir != "" {
			if rmErr := fsutil.RemoveAllQuiet(r.dir); rmErr != nil {
				r.log.Error("cannot remove partial pack", zap.String("dir", r.dir), zap.Error(rmErr))
				err = errors.Join(err, fmt.Errorf("removing partial pack %s: %w", r.dir, rmErr))
			}
		}
	}()

	ts := r.start.UTC().Format(pack.TimeLayout)
	ts = strings.Replace(ts, ".", "_", 1)
	name := pack.NamePrefix + ts
	final := filepath.Join(spec.Target, name)
	partial := filepath.Join(spec.Target, pack.PartialPrefix+ts)
	if _, err := os.Lstat(final); err == nil {
		return nil, stepErr(progress.StepPrecheck, "", fmt.Errorf("pack %s already exists", final))
	}
	if err := os.Mkdir(partial, 0o755); err != nil {
		return nil, stepErr(progress.StepPrecheck, "", fmt.Errorf("create pack directory: %w", err))
	}
	r.dir = partial
	r.man = pack.Manifest{
		FormatVersion: pack.FormatVersion,
		Tool:          pack.ToolInfo{Name: "dockpack", Version: Version},
		CreatedAt:     r.start.UTC(),
		Project:       spec.Project,
		Contents:      slices.Clone(spec.Components),
		Engine: pack.EngineEntry{Version: r.plan.Engine.Version, APIVersion: r.plan.Engine.APIVersion, ImageStore: r.plan.Engine.ImageStore,
			StorageDriver: r.plan.Engine.StorageDriver, OS: r.plan.Engine.OS, Arch: r.plan.Engine.Arch},
		Images:  []pack.ImageEntry{},
		Volumes: []pack.VolumeEntry{},
		Skipped: slices.Clone(r.plan.Skipped),
	}
	r.man.Host, _ = os.Hostname()
	r.trk.SetTotal(r.plan.Estimate.Total())

	if spec.Has(pack.ComponentDB) {
		if err := r.step(ctx, progress.StepSQLite, func() error { return r.sqlite(ctx) }); err != nil {
			return nil, err
		}
	}
	if spec.Has(pack.ComponentVolumes) && len(r.plan.Stack.Volumes) > 0 {
		if err := r.step(ctx, progress.StepVolumes, func() error { return r.volumes(ctx) }); err != nil {
			return nil, err
		}
	}
	if spec.Has(pack.ComponentImages) && len(r.plan.Stack.Images) > 0 {
		if err := r.step(ctx, progress.StepImages, func() error { return r.images(ctx) }); err != nil {
			return nil, err
		}
	}
	if err := r.step(ctx, progress.StepCompose, func() error { return r.compose(ctx) }); err != nil {
		return nil, err
	}
	var hash string
	if err := r.step(ctx, progress.StepManifest, func() error {
		var err error
		hash, err = r.manifest(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	if err := r.step(ctx, progress.StepFinalize, func() error { return r.finalize(ctx, final) }); err != nil {
		return nil, err
	}
	r.dir = ""
	r.trk.PercentAt(progress.StepFinalize, 100, r.t("job.pack_complete", final))
	m := r.man
	return &Result{Pack: final, Name: name, PackageHash: hash, Manifest: &m, Bytes: m.PackSize(),
		Duration: spec.Now().Sub(r.start), Steps: r.steps, Plan: r.plan}, nil
}

func (r *runner) precheck(ctx context.Context) error {
	plan, err := prepare(ctx, r.spec, false)
	r.plan = plan
	if err != nil {
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

// guardWriter re-checks the mount pin every spec.PinCheckBytes written.
type guardWriter struct {
	ctx   context.Context
	w     io.Writer
	pin   *mountcheck.Pinned
	every int64
	since int64
}

func (g *guardWriter) Write(p []byte) (int, error) {
	if g.since >= g.every {
		g.since = 0
		if err := g.pin.Check(g.ctx); err != nil {
			return 0, err
		}
	}
	n, err := g.w.Write(p)
	g.since += int64(n)
	return n, err
}

// writeFile streams a pack file: the produce func writes it through a chain
// that re-checks the mount pin, counts progress and hashes. The file is
// fsynced before it is recorded.
func (r *runner) writeFile(ctx context.Context, step progress.Step, item, rel, kind string, produce func(w io.Writer) error) (pack.FileEntry, error) {
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return pack.FileEntry{}, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return pack.FileEntry{}, err
	}
	defer f.Close()
	var w io.Writer = &guardWriter{ctx: ctx, w: &fsutil.WritebackWriter{F: f}, pin: r.pin, every: r.spec.PinCheckBytes}
	if h := r.spec.Hooks.WrapWriter; h != nil {
		w = h(step, item, w)
	}
	hw := fsutil.NewHashWriter(r.trk.Writer(w))
	if err := produce(hw); err != nil {
		return pack.FileEntry{}, err
	}
	if err := f.Sync(); err != nil {
		return pack.FileEntry{}, fmt.Errorf("fsync %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return pack.FileEntry{}, err
	}
	fe := pack.FileEntry{Path: rel, Kind: kind, Size: hw.N(), SHA256: hw.Sum()}
	if kind != pack.FileManifest { // manifest.json and SHA256SUMS are not listed in the manifest
		r.files = append(r.files, fe)
	}
	return fe, nil
}

func (r *runner) sqlite(ctx context.Context) error {
	spec := r.spec
	base := filepath.Base(spec.SQLitePath)
	dst := filepath.Join(r.dir, base)
	r.trk.Begin(progress.StepSQLite, base, r.plan.Estimate.DB, r.t("job.sqlite", spec.SQLitePath))
	var copied int64
	res, err := sqlitesnap.Snapshot(ctx, spec.SQLitePath, dst, sqlitesnap.Options{
		StagingDir:  spec.StagingDir,
		BusyTimeout: spec.SQLiteBusyTimeout,
		Logger:      spec.Logger,
		Guard:       r.pin.Check,
		Progress: func(p sqlitesnap.Progress) {
			if p.Phase == "copy" && p.Done > copied {
				r.trk.Add(p.Done - copied)
				copied = p.Done
				return
			}
			r.trk.Message(r.t("job.sqlite.phase", p.Phase, p.Done, p.Total, p.Unit), false)
		},
	})
	if err != nil {
		return stepErr(progress.StepSQLite, spec.SQLitePath, err)
	}
	if res.Bytes > copied {
		r.trk.Add(res.Bytes - copied)
	}
	r.files = append(r.files, pack.FileEntry{Path: base, Kind: pack.FileSQLite, Size: res.Bytes, SHA256: res.SHA256})
	r.man.SQLite = &pack.SQLiteEntry{Source: spec.SQLitePath, File: base, SQLiteVersion: res.SQLiteVersion, JournalMode: res.JournalMode,
		PageCount: res.PageCount, PageSize: res.PageSize, Check: res.Check}
	return nil
}

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

func (r *runner) images(ctx context.Context) error {
	st := r.plan.Stack
	var refs []string
	for _, im := range st.Images {
		tags := dockerapi.RealTags(im.RepoTags)
		if len(tags) == 0 {
			refs = append(refs, im.ID)
			continue
		}
		refs = append(refs, tags...)
	}
	r.trk.Begin(progress.StepImages, "", r.plan.Estimate.Images, r.t("job.images", len(st.Images), len(refs)))
	var sr dockerapi.SaveResult
	_, err := r.writeFile(ctx, progress.StepImages, pack.ImagesFile, pack.ImagesFile, pack.FileImages, func(w io.Writer) error {
		var err error
		sr, err = r.spec.Engine.SaveImages(ctx, refs, w)
		return err
	})
	if err != nil {
		return err
	}
	for _, im := range st.Images {
		digest, err := configDigestFor(im, sr.Images)
		if err != nil {
			return fmt.Errorf("%w: %v", dockerapi.ErrImageSaveIncomplete, err)
		}
		r.man.Images = append(r.man.Images, pack.ImageEntry{ID: im.ID, ConfigDigest: digest, RepoTags: nonnil.Slice(dockerapi.RealTags(im.RepoTags)),
			RepoDigests: nonnil.Slice(im.RepoDigests), Size: im.Size})
	}
	r.man.MissingPlatforms = sr.MissingPlatforms
	return nil
}

// configDigestFor finds an image's entry in the saved archive by tag, or by
// ID for untagged images (graph-driver IDs are config digests).
func configDigestFor(im dockerapi.Image, saved []dockerapi.SavedImage) (string, error) {
	tags := dockerapi.RealTags(im.RepoTags)
	for _, s := range saved {
		for _, t := range s.RepoTags {
			if slices.Contains(tags, t) {
				return s.ConfigDigest, nil
			}
		}
	}
	for _, s := range saved {
		if s.ConfigDigest == im.ID || s.Ref == im.ID {
			return s.ConfigDigest, nil
		}
	}
	return "", fmt.Errorf("image %s (%s) is not in the saved archive", im.ID, strings.Join(tags, ", "))
}

func (r *runner) compose(ctx context.Context) error {
	st := r.plan.Stack
	r.trk.PercentAt(progress.StepCompose, progress.PctDataEnd, r.t("job.compose"))
	var srcs []string
	srcs = append(srcs, st.ComposeFiles...)
	srcs = append(srcs, st.EnvFiles...)
	if st.WorkingDir != "" {
		env := filepath.Join(st.WorkingDir, ".env")
		if _, err := os.Stat(env); err == nil && !slices.Contains(srcs, env) {
			srcs = append(srcs, env)
		}
	}
	used := map[string]bool{}
	for _, src := range srcs {
		base := filepath.Base(src)
		name := base
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%d-%s", i, base)
		}
		f, err := os.Open(src)
		if err != nil {
			r.man.Skipped = append(r.man.Skipped, pack.SkipEntry{Kind: "compose-file", Source: src,
				Reason: fmt.Sprintf("not readable from where dockpack runs (%v); keep a copy of it yourself", errors.Unwrap(err))})
			continue
		}
		used[name] = true
		_, err = r.writeFile(ctx, progress.StepCompose, name, path.Join(pack.ComposeDir, name), pack.FileCompose, func(w io.Writer) error {
			_, err := io.Copy(w, fsutil.ContextReader(ctx, f))
			return err
		})
		f.Close()
		if err != nil {
			return stepErr(progress.StepCompose, src, err)
		}
	}
	return nil
}

// manifest writes manifest.json and SHA256SUMS and returns the package hash.
func (r *runner) manifest(ctx context.Context) (string, error) {
	r.trk.PercentAt(progress.StepManifest, progress.PctManifest, r.t("job.manifest"))
	r.man.Files = slices.Clone(r.files)
	slices.SortFunc(r.man.Files, func(a, b pack.FileEntry) int { return strings.Compare(a.Path, b.Path) })
	if err := r.man.Validate(); err != nil {
		return "", fmt.Errorf("the manifest this backup produced is inconsistent (a bug): %w", err)
	}
	data, err := pack.MarshalManifest(&r.man)
	if err != nil {
		return "", err
	}
	mf, err := r.writeFile(ctx, progress.StepManifest, pack.ManifestFile, pack.ManifestFile, pack.FileManifest, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return "", err
	}
	sums := make([]pack.Sum, 0, len(r.man.Files)+1)
	for _, f := range r.man.Files {
		sums = append(sums, pack.Sum{SHA256: f.SHA256, Path: f.Path})
	}
	sums = append(sums, pack.Sum{SHA256: mf.SHA256, Path: pack.ManifestFile})
	if _, err := r.writeFile(ctx, progress.StepManifest, pack.SumsFile, pack.SumsFile, pack.FileManifest, func(w io.Writer) error {
		_, err := w.Write(pack.FormatSums(sums))
		return err
	}); err != nil {
		return "", err
	}
	return mf.SHA256, nil
}

// finalize makes every directory entry durable, re-checks the mount pin and
// renames the partial directory to its final name.
func (r *runner) finalize(ctx context.Context, final string) error {
	r.trk.PercentAt(progress.StepFinalize, progress.PctFinalize, r.t("job.finalize"))
	for _, d := range []string{filepath.Join(r.dir, pack.VolumesDir), filepath.Join(r.dir, pack.ComposeDir), r.dir} {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := fsutil.SyncDir(d); err != nil {
			return err
		}
	}
	if err := r.pin.Check(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if err := os.Rename(r.dir, final); err != nil {
		return fmt.Errorf("rename %s to %s: %w", r.dir, final, err)
	}
	r.dir = final // until the target dir is synced, a failure still removes it
	if err := fsutil.SyncDir(r.spec.Target); err != nil {
		return err
	}
	r.log.Info("pack written", zap.String("pack", final), zap.String("size", units.BytesSize(float64(r.man.PackSize()))))
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
