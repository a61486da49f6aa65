// Package export turns a pack — a store pack (format 2) above all — into a
// self-contained classic pack (format 1) in another directory: the
// migration pack an operator carries to a host without dockpack, where
// `docker load -i images.tar` and `sha256sum -c SHA256SUMS` are all it
// takes (`dockpack export PACK --to DIR`).
//
// The export is written like a backup (docs/format.md §2): the
// destination is verified (mountcheck, with the space the pack needs) and
// pinned, the pack is built in .partial-<name>.<owner>/ beside an owner
// record, through the pinned directory handle, and renamed to its name only
// when every file is written and fsynced — a crash leaves nothing that
// looks complete, and the next backup or export there removes the debris.
// Every byte is checked while it streams: each file against its sha256 in
// the source's manifest (a store pack's chunks against their ids as they
// are read), images.tar's configs and layers against their digests, and
// images.tar against the image-archive validator a backup uses.
package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/internal/packdir"
	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
)

// Errors of an export, matched with errors.Is.
var (
	// ErrSource: the pack to export fails its checks (structure, or a file
	// that differs from its manifest while it is read); nothing is left at
	// the destination.
	ErrSource = errors.New("the pack to export is damaged")
	// ErrExists: the destination holds a pack of that name already.
	ErrExists = errors.New("the destination holds a pack of that name")
)

// refusedError is a refusal of the destination (not verified, no space, a
// pack of that name there): it matches backup.ErrPrecheck, nothing was
// written.
type refusedError struct{ err error }

func (e *refusedError) Error() string        { return "export refused, nothing was written: " + e.err.Error() }
func (e *refusedError) Unwrap() error        { return e.err }
func (e *refusedError) Is(target error) bool { return target == sentinel.ErrPrecheck }

// Spec describes one export.
type Spec struct {
	// Pack is the pack directory to export (format 1 or 2).
	Pack string
	// Target is the directory the exported pack is written in; it is
	// verified with Policy (the pack's size as the free space it needs)
	// and pinned, like a backup's target.
	Target string
	Policy mountcheck.Policy
	// Owner writes the export (its partial directory's owner record).
	// Default: this process.
	Owner owner.Identity
	// PackMode of the files written (pack.Modes). Default pack.DefaultMode.
	PackMode os.FileMode
	// Progress receives byte-level progress. May be nil.
	Progress         progress.Func
	ProgressInterval time.Duration
	// Lang of the progress messages. Default English.
	Lang   string
	Logger *zap.Logger
	// CheckBytes is how many bytes may be written between two pin checks.
	// Default 64 MiB.
	CheckBytes int64
	// Keys open a sealed pack (--age-identity): its files are written as
	// plaintext (the export is what `docker load -i` takes). A sealed pack
	// without a matching identity is refused before anything is written.
	Keys *seal.Keys
}

func (s *Spec) applyDefaults() {
	if s.Owner.Token == "" {
		s.Owner = owner.Self("")
	}
	if s.PackMode == 0 {
		s.PackMode = pack.DefaultMode
	}
	if s.ProgressInterval == 0 {
		s.ProgressInterval = 500 * time.Millisecond
	}
	if s.Lang == "" {
		s.Lang = i18n.English
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
}

// Validate reports what is wrong with the spec on its own.
func (s Spec) Validate() error {
	var errs []error
	if s.Pack == "" {
		errs = append(errs, errors.New("the pack to export is missing"))
	} else if !strings.HasPrefix(filepath.Base(filepath.Clean(s.Pack)), pack.NamePrefix) {
		errs = append(errs, fmt.Errorf("%s is not a pack directory (%s<time>)", s.Pack, pack.NamePrefix))
	}
	if s.Target == "" {
		errs = append(errs, errors.New("the destination directory is missing"))
	}
	if !pack.ValidMode(s.PackMode) {
		errs = append(errs, fmt.Errorf("pack mode %04o: use %s (default), %s or %s", s.PackMode, pack.Modes[0], pack.Modes[1], pack.Modes[2]))
	}
	if !i18n.Valid(s.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported", s.Lang))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: export: %w", sentinel.ErrInvalidSpec, errors.Join(errs...))
	}
	return nil
}

// Result describes an exported pack.
type Result struct {
	// Pack is the exported pack's directory, Name its name.
	Pack string `json:"pack"`
	Name string `json:"name"`
	// PackageHash is the sha256 of the exported manifest.json.
	PackageHash string `json:"package_hash"`
	// Source is the pack exported, SourceHash its package hash and
	// SourceFormat its format.
	Source       string `json:"source"`
	SourceHash   string `json:"source_hash"`
	SourceFormat int    `json:"source_format"`
	// Files and Bytes are what was written (manifest.json and SHA256SUMS
	// not counted).
	Files    int           `json:"files"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
}

// Export writes a self-contained classic pack of spec.Pack into
// spec.Target, under the source pack's name. A source that fails its
// structural check is refused before anything is written (ErrSource); a
// file that differs from its manifest while it is read stops the export
// and removes what it wrote (ErrSource). On any failure or cancel nothing
// named like a pack is left at the destination.
func Export(ctx context.Context, spec Spec) (*Result, error) {
	spec.applyDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	e := &exporter{spec: &spec, t: i18n.For(spec.Lang), log: spec.Logger.With(zap.String("pack", spec.Pack)),
		trk: progress.NewTracker(spec.Progress, time.Now, spec.ProgressInterval)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := e.openSource(ctx, cancel); err != nil {
		return nil, err
	}
	defer e.src.Close()
	if err := e.openTarget(ctx, cancel); err != nil {
		return nil, &refusedError{err}
	}
	defer e.pin.Close()
	defer e.stopWatch()
	res, err := e.write(ctx)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Cause(ctx)) {
			err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		}
		e.log.Error("export failed", zap.Error(err))
		return nil, err
	}
	res.Duration = time.Since(start)
	e.trk.PercentAt(progress.StepFinalize, 100, e.t.T("export.progress.done", res.Pack))
	e.log.Info("pack exported", zap.String("to", res.Pack), zap.Int64("bytes", res.Bytes), zap.Duration("took", res.Duration))
	return res, nil
}

// exporter carries one export.
type exporter struct {
	spec      *Spec
	t         i18n.Printer
	log       *zap.Logger
	trk       *progress.Tracker
	src       *pack.Dir
	m         *pack.Manifest
	hash      string // the source's package hash
	pin       *mountcheck.Pinned
	stopWatch func()
	out       *packdir.Dir
}

// openSource opens the source pack through its pin and checks its
// structure (every file present; a store pack's chunks in the store).
func (e *exporter) openSource(ctx context.Context, cancel context.CancelCauseFunc) error {
	d, err := pack.OpenDir(ctx, e.spec.Pack, cancel)
	if err != nil {
		return fmt.Errorf("open the pack to export: %w", err)
	}
	e.src = d
	d.SetKeys(e.spec.Keys)
	vr, err := pack.Verify(ctx, e.spec.Pack, pack.VerifyOptions{Structural: true, Dir: d, Lang: e.spec.Lang, Logger: e.spec.Logger, Tracker: e.trk})
	if err != nil {
		d.Close()
		if errors.Is(err, pack.ErrVerify) {
			return fmt.Errorf("%w: %w", ErrSource, err)
		}
		return err
	}
	e.m, e.hash = vr.Manifest, vr.PackageHash
	if err := d.CheckKeys(e.m); err != nil { // a sealed pack: exported only with its identity
		d.Close()
		return fmt.Errorf("%w; the export writes plaintext, so it needs one; nothing was written", err)
	}
	return nil
}

// openTarget removes dead writers' debris, verifies the destination with
// the space the export needs, and pins it.
func (e *exporter) openTarget(ctx context.Context, cancel context.CancelCauseFunc) error {
	spec := e.spec
	e.trk.Begin(progress.StepPrecheck, "", 0, e.t.T("export.progress.target", spec.Target))
	if err := os.MkdirAll(spec.Target, 0o755); err != nil {
		return fmt.Errorf("create the destination directory: %w", err)
	}
	if _, err := backup.Recover(ctx, backup.RecoverOptions{Target: spec.Target, Logger: spec.Logger}); err != nil {
		e.log.Warn("recovery of dead writers' debris in the destination", zap.Error(err))
	}
	pol := spec.Policy
	pol.MinFreeBytes = max(pol.MinFreeBytes, uint64(e.size()))
	rep, err := mountcheck.Verify(ctx, spec.Target, pol)
	if err != nil {
		return err
	}
	pin, err := mountcheck.Pin(ctx, spec.Target)
	if err != nil {
		return err
	}
	if rep.MountID != 0 && pin.Report().MountID != rep.MountID {
		pin.Close()
		return fmt.Errorf("%w: %s changed mounts between verification and pinning", mountcheck.ErrMountChanged, spec.Target)
	}
	e.pin = pin
	e.stopWatch = pin.Watch(ctx, 2*time.Second, func(err error) { cancel(err) })
	return nil
}

// size estimates the exported pack: its files (images.tar: configs and
// layers plus tar headers) and the manifest.
func (e *exporter) size() int64 {
	return e.m.PackSize() + int64(len(e.m.Files)+len(e.m.Images))*2048 + 1<<20
}
