package pack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// ErrVerify marks a pack that failed verification. The concrete error is a
// *VerifyError naming each failing file with the expected and actual values.
var ErrVerify = errors.New("pack verification failed")

// VerifyError lists the failed checks of a pack.
type VerifyError struct {
	Pack   string
	Failed []check.Check
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: ", ErrVerify, e.Pack)
	for i, c := range e.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(FormatCheck(c))
	}
	return b.String()
}

// Is makes VerifyError match ErrVerify.
func (e *VerifyError) Is(target error) bool { return target == ErrVerify }

// VerifyResult is the outcome of Verify, one check per component: Name
// "pack", "manifest", "sha256sums", "sqlite", "volume:<name>", "images" or
// "compose:<file>"; Path the file relative to the pack; Kind its FileKind;
// Code one of the Code* constants.
type VerifyResult struct {
	Pack        string        `json:"pack"`
	PackageHash string        `json:"package_hash"` // sha256 of manifest.json as it is now
	Manifest    *Manifest     `json:"manifest,omitempty"`
	Checks      []check.Check `json:"checks"`
	OK          bool          `json:"ok"`
	// Structural: only the structure was checked (VerifyOptions.Structural).
	Structural bool `json:"structural"`
	// Bytes is how much was read from the pack.
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
}

// Failed returns the failed checks.
func (r *VerifyResult) Failed() []check.Check { return check.Failed(r.Checks) }

// Err is nil for a pack that passed, else a *VerifyError.
func (r *VerifyResult) Err() error {
	if r.OK {
		return nil
	}
	return &VerifyError{Pack: r.Pack, Failed: r.Failed()}
}

// VerifyOptions configure Verify. The zero value is the full check.
type VerifyOptions struct {
	// StagingDir is local scratch space: the SQLite snapshot is copied there
	// (hashed during the copy) and checked — never opened on the share — and
	// removed. Default os.TempDir().
	StagingDir string
	// Structural limits the check to what is cheap on a multi-GB pack:
	// manifest schema, SHA256SUMS agreeing with the manifest, every file
	// present with its recorded size, tar headers of the archives walked
	// (data skipped by seeking), the SQLite header. Nothing is hashed. Prune
	// uses it; the default (false) reads and hashes every file.
	Structural bool
	// SQLiteCheck is the check run on the staged snapshot. Default sqlitesnap.QuickCheck.
	SQLiteCheck sqlitesnap.CheckMode
	// Lang is the language of the checks' summaries and of the progress
	// messages (i18n.English, i18n.Chinese). Default English.
	Lang string
	// Progress receives byte-level progress (step "verify", item = file). May be nil.
	Progress progress.Func
	// Dir, when set, is the pack opened by the caller (Restore reads the
	// pack it verified through the same pin); Verify opens its own otherwise.
	Dir *Dir
	// Tracker, when set, receives the progress instead (Restore verifies
	// within its own progress); Progress and ProgressInterval are then unused.
	Tracker *progress.Tracker
	// ProgressInterval is the least time between two progress reports within a file. Default 500ms.
	ProgressInterval time.Duration
	// Logger receives structured logs. Default zap.NewNop().
	Logger *zap.Logger
	// Keys open a sealed pack's files for the full check (its identities);
	// without them a sealed pack verifies only with Structural (ciphertext
	// sha256 and age headers). When Dir is given, its keys are used unless
	// Keys is set.
	Keys *seal.Keys
	// OpenOnce, for a sealed classic pack: check that the identities open
	// it and each file's ciphertext (sha256 and age header, as Structural),
	// not its plaintext — what Restore asks before it opens every byte
	// once. The ciphertext's sha256, covered by the package hash, is the
	// byte sequence the backup sealed after validating its plaintext, and
	// age authenticates each 64 KiB of it as the restore opens it, so a
	// second decryption first would find nothing new. Other packs: no
	// effect.
	OpenOnce bool
	// ReadDataSubset (0–1), for a store pack with Structural: also read a
	// random fraction of the store's bundles whole, every chunk
	// decompressed and hashed (`--read-data-subset N%`).
	ReadDataSubset float64
}

func (o *VerifyOptions) applyDefaults() {
	if o.StagingDir == "" {
		o.StagingDir = os.TempDir()
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = 500 * time.Millisecond
	}
	if o.Lang == "" {
		o.Lang = i18n.English
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Validate reports unusable options.
func (o VerifyOptions) Validate() error {
	var errs []error
	if o.SQLiteCheck != sqlitesnap.QuickCheck && o.SQLiteCheck != sqlitesnap.IntegrityCheck {
		errs = append(errs, fmt.Errorf("SQLite check mode %v: use sqlitesnap.QuickCheck or IntegrityCheck", o.SQLiteCheck))
	}
	if o.ReadDataSubset < 0 || o.ReadDataSubset > 1 {
		errs = append(errs, fmt.Errorf("read-data subset %g: give a fraction from 0 to 1", o.ReadDataSubset))
	}
	if o.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("progress interval %s is negative", o.ProgressInterval))
	}
	if !i18n.Valid(o.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (one of %s)", o.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: verify: %w", sentinel.ErrInvalidSpec, errors.Join(errs...))
}

// Verify checks a pack and returns one check per component:
//   - manifest.json: schema and cross references (ParseManifest);
//   - SHA256SUMS: present, and listing exactly the manifest's files (and
//     manifest.json itself) with the same checksums;
//   - every file the manifest lists: a regular file of the recorded size
//     and sha256, read once, with its structure checked in the same pass
//     (io.TeeReader into the validators): images.tar with the validator of
//     the backup, plus every image of the manifest present in it; each
//     volume tar read to its end; the SQLite snapshot copied to local
//     staging (hashed during the copy), checked there and removed.
//
// With o.Structural only the cheap checks run (see VerifyOptions).
//
// A pack that fails gives the result and a *VerifyError (matching
// ErrVerify) naming each failing file with its expected and actual values.
// Other errors (ctx done, staging unusable) leave the verdict open: the
// result holds the checks done so far.
func Verify(ctx context.Context, packDir string, o VerifyOptions) (*VerifyResult, error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	trk := o.Tracker
	if trk == nil {
		trk = progress.NewTracker(o.Progress, time.Now, o.ProgressInterval)
	}
	res, err := verifyPack(ctx, packDir, o, trk)
	if err == nil && o.Tracker == nil {
		trk.PercentAt(progress.StepVerify, 100, i18n.T(o.Lang, "verify.progress.done"))
	}
	return res, err
}

// verifyPack does Verify's work, reporting to trk (Restore shares its tracker).
func verifyPack(ctx context.Context, packDir string, o VerifyOptions, trk *progress.Tracker) (*VerifyResult, error) {
	start := time.Now()
	if abs, err := filepath.Abs(packDir); err == nil {
		packDir = abs
	}
	res := &VerifyResult{Pack: packDir, Structural: o.Structural}
	finish := func(err error) (*VerifyResult, error) {
		res.Duration = time.Since(start)
		summarize(i18n.For(o.Lang), res)
		return res, verdict(res, err, o.Logger.With(zap.String("pack", packDir)))
	}
	trk.Begin(progress.StepVerify, ManifestFile, 0, i18n.T(o.Lang, "verify.progress.manifest", packDir))
	// The pack is read through its mount pin: a share that drops mid-read
	// cancels the verification with mount_changed.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	d := o.Dir
	if d == nil {
		var err error
		if d, err = OpenDir(ctx, packDir, cancel); err != nil {
			if ctx.Err() != nil {
				return finish(context.Cause(ctx))
			}
			c := check.Check{Name: "pack", Kind: string(FileDir)}
			differ(&c, CodeMissing, "a pack directory", "missing", err.Error()+"; check the path (and that the share is mounted)")
			res.Checks = append(res.Checks, c)
			return finish(nil)
		}
		defer d.Close()
	}
	if o.Keys != nil {
		d.SetKeys(o.Keys)
	}
	m, err := verifyManifest(ctx, d, res)
	if err != nil || m == nil {
		return finish(err)
	}
	structural := o.Structural || (o.OpenOnce && m.sealedFiles())
	res.Structural = structural
	if !o.Structural {
		// A sealed pack's full check opens every file: without a matching
		// identity, say so before reading (structural needs none).
		if err := d.CheckKeys(m); err != nil {
			return finish(fmt.Errorf("%w (or verify structurally, which needs no identity)", err))
		}
	}
	res.Checks = append(res.Checks, checkSums(ctx, d, m, res.PackageHash)...)
	if err := ctx.Err(); err != nil {
		return finish(context.Cause(ctx))
	}
	if !structural {
		trk.AddTotal(m.PackSize())
	}
	if err := checkFiles(ctx, d, m, o, structural, trk, res); err != nil {
		return finish(err)
	}
	if o.Structural && o.ReadDataSubset > 0 && m.IsStore() {
		if err := sampleCheck(ctx, d, m, o.ReadDataSubset, res); err != nil {
			return finish(err)
		}
	}
	return finish(nil)
}

// checkFiles checks each file of the pack into res: structurally, or in
// full (read, hashed, its content validated). An error only for ctx or
// staging.
func checkFiles(ctx context.Context, d *Dir, m *Manifest, o VerifyOptions, structural bool, trk *progress.Tracker, res *VerifyResult) error {
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		var c check.Check
		var n int64
		var err error
		if structural {
			c, err = structuralCheck(ctx, d, m, f)
		} else {
			c, n, err = deepCheck(ctx, d, m, f, o, trk)
		}
		res.Bytes += n
		if err == nil && !c.OK() && ctx.Err() != nil {
			// A read that failed because the run was canceled (or the
			// mount changed under it) says nothing about the file.
			err = context.Cause(ctx)
		}
		if err != nil {
			return err
		}
		res.Checks = append(res.Checks, c)
	}
	return nil
}

// verdict settles res.OK once every check ran (err == nil) and logs it.
func verdict(res *VerifyResult, err error, log *zap.Logger) error {
	if err != nil {
		return err
	}
	res.OK = len(res.Checks) > 0 && len(res.Failed()) == 0
	if !res.OK {
		log.Warn("pack failed verification", zap.String("failed", res.Err().Error()))
		return res.Err()
	}
	log.Info("pack verified", zap.Bool("structural", res.Structural), zap.Int64("bytes", res.Bytes), zap.Duration("took", res.Duration))
	return nil
}

// verifyManifest reads and checks manifest.json into res. A nil manifest
// with a nil error means the manifest failed its check.
func verifyManifest(ctx context.Context, d *Dir, res *VerifyResult) (*Manifest, error) {
	c := check.Check{Name: "manifest", Path: ManifestFile, Kind: string(FileManifest)}
	m, hash, raw, err := readManifestRaw(ctx, d)
	res.PackageHash = hash
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		code := CodeManifestInvalid
		if errors.Is(err, fs.ErrNotExist) {
			code = CodeMissing
		}
		fail(&c, code, err.Error())
		res.Checks = append(res.Checks, c)
		return nil, nil
	}
	res.Manifest = m
	res.Bytes += int64(len(raw))
	pass(&c, fmt.Sprintf("format %d, project %s, %d files, package hash %s", m.FormatVersion, m.Project, len(m.Files), hash))
	res.Checks = append(res.Checks, c)
	return m, nil
}

// readManifestRaw reads manifest.json (bounded) and parses it.
func readManifestRaw(ctx context.Context, d *Dir) (*Manifest, string, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", nil, err
	}
	p := filepath.Join(d.Path(), ManifestFile)
	f, err := d.Open(ctx, ManifestFile)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<20+1))
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w: read %s: %v", ErrManifest, p, err)
	}
	if len(data) > 64<<20 {
		return nil, "", nil, fmt.Errorf("%w: %s is larger than 64 MiB, far larger than any manifest", ErrManifest, p)
	}
	hash := sha256Hex(data)
	m, err := ParseManifest(data)
	if err != nil {
		return nil, hash, data, err
	}
	return m, hash, data, nil
}
