package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/tarcheck"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// Kinds of checks in a VerifyResult besides the pack file kinds.
const (
	FileDir  = "pack"
	FileSums = "sums"
)

// ErrVerify marks a pack that failed verification. The concrete error is a
// *VerifyError naming each failing file with the expected and actual values.
var ErrVerify = errors.New("pack verification failed")

// VerifyError lists the failed checks of a pack.
type VerifyError struct {
	Pack   string
	Failed []ComponentCheck
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: ", ErrVerify, e.Pack)
	for i, c := range e.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.String())
	}
	return b.String()
}

// Is makes VerifyError match ErrVerify.
func (e *VerifyError) Is(target error) bool { return target == ErrVerify }

// ComponentCheck is the verdict on one part of a pack.
type ComponentCheck struct {
	// Name identifies the check: "pack", "manifest", "sha256sums",
	// "sqlite", "volume:<name>", "images", "compose:<file>".
	Name string `json:"name"`
	// Path is the file, relative to the pack.
	Path string `json:"path,omitempty"`
	// Kind is the file's kind (sqlite, volume, images, compose, manifest, sums, pack).
	Kind string `json:"kind"`
	OK   bool   `json:"ok"`
	// Expected and Actual are set when a value differs ("sha256 <hex>",
	// "size <n>", "present").
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	// Detail says what was checked, or what is wrong and what to do.
	Detail string `json:"detail,omitempty"`
}

// String renders a check for messages: "volumes/x.tar: sha256 mismatch
// (expected …, actual …): detail".
func (c ComponentCheck) String() string {
	what := c.Path
	if what == "" {
		what = c.Name
	}
	if c.OK {
		return what + ": ok"
	}
	s := what + ":"
	if c.Expected != "" || c.Actual != "" {
		s += fmt.Sprintf(" expected %s, actual %s", c.Expected, c.Actual)
		if c.Detail != "" {
			s += ";"
		}
	}
	if c.Detail != "" {
		s += " " + c.Detail
	}
	return s
}

// VerifyResult is the outcome of Verify, one check per component.
type VerifyResult struct {
	Pack        string           `json:"pack"`
	PackageHash string           `json:"package_hash"` // sha256 of manifest.json as it is now
	Manifest    *Manifest        `json:"manifest,omitempty"`
	Checks      []ComponentCheck `json:"checks"`
	OK          bool             `json:"ok"`
	// Structural: only the structure was checked (VerifyOptions.Structural).
	Structural bool `json:"structural"`
	// Bytes is how much was read from the pack.
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
}

// Failed returns the failed checks.
func (r *VerifyResult) Failed() []ComponentCheck {
	var out []ComponentCheck
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

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
	// Progress receives byte-level progress (step "verify", item = file). May be nil.
	Progress progress.Func
	// Tracker, when set, receives the progress instead (Restore verifies
	// within its own progress); Progress and ProgressInterval are then unused.
	Tracker *progress.Tracker
	// ProgressInterval is the least time between two progress reports within a file. Default 500ms.
	ProgressInterval time.Duration
	// Logger receives structured logs. Default zap.NewNop().
	Logger *zap.Logger
}

func (o *VerifyOptions) applyDefaults() {
	if o.StagingDir == "" {
		o.StagingDir = os.TempDir()
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = 500 * time.Millisecond
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
	if o.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("progress interval %s is negative", o.ProgressInterval))
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
		trk.PercentAt(progress.StepVerify, 100, "pack verified")
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
	log := o.Logger.With(zap.String("pack", packDir))
	finish := func(err error) (*VerifyResult, error) {
		res.Duration = time.Since(start)
		if err != nil {
			return res, err
		}
		res.OK = len(res.Checks) > 0 && len(res.Failed()) == 0
		if !res.OK {
			log.Warn("pack failed verification", zap.String("failed", res.Err().Error()))
			return res, res.Err()
		}
		log.Info("pack verified", zap.Bool("structural", o.Structural), zap.Int64("bytes", res.Bytes), zap.Duration("took", res.Duration))
		return res, nil
	}
	trk.Begin(progress.StepVerify, ManifestFile, 0, "reading the manifest of "+packDir)
	if fi, err := os.Stat(packDir); err != nil || !fi.IsDir() {
		detail := "not a directory"
		if err != nil {
			detail = err.Error()
		}
		res.Checks = append(res.Checks, ComponentCheck{Name: "pack", Kind: FileDir, Expected: "a pack directory", Actual: "missing",
			Detail: detail + "; check the path (and that the share is mounted)"})
		return finish(nil)
	}
	m, hash, raw, err := readManifestRaw(ctx, packDir)
	res.PackageHash = hash
	if err != nil {
		if ctx.Err() != nil {
			return finish(ctx.Err())
		}
		res.Checks = append(res.Checks, ComponentCheck{Name: "manifest", Path: ManifestFile, Kind: FileManifest, Detail: err.Error()})
		return finish(nil)
	}
	res.Manifest, res.PackageHash = m, hash
	res.Bytes += int64(len(raw))
	res.Checks = append(res.Checks, ComponentCheck{Name: "manifest", Path: ManifestFile, Kind: FileManifest, OK: true,
		Detail: fmt.Sprintf("format %d, project %s, %d files, package hash %s", m.FormatVersion, m.Project, len(m.Files), hash)})
	res.Checks = append(res.Checks, checkSums(packDir, m, hash)...)

	if !o.Structural {
		trk.AddTotal(m.PackSize())
	}
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return finish(context.Cause(ctx))
		}
		var c ComponentCheck
		var n int64
		if o.Structural {
			c, err = structuralCheck(ctx, packDir, m, f)
		} else {
			c, n, err = deepCheck(ctx, packDir, m, f, o, trk)
		}
		res.Bytes += n
		if err != nil {
			return finish(err)
		}
		res.Checks = append(res.Checks, c)
	}
	return finish(nil)
}

// readManifestRaw reads manifest.json (bounded) and parses it.
func readManifestRaw(ctx context.Context, packDir string) (*Manifest, string, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", nil, err
	}
	p := filepath.Join(packDir, ManifestFile)
	f, err := os.Open(p)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w: %v", ErrManifest, err)
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

func componentCheckName(f FileEntry, m *Manifest) string {
	switch f.Kind {
	case FileVolume:
		for _, v := range m.Volumes {
			if v.File == f.Path {
				return "volume:" + v.Name
			}
		}
		return "volume:" + strings.TrimSuffix(filepath.Base(f.Path), ".tar")
	case FileCompose:
		return "compose:" + strings.TrimPrefix(f.Path, ComposeDir+"/")
	}
	return f.Kind
}

// checkSums compares SHA256SUMS with the manifest.
func checkSums(packDir string, m *Manifest, manifestHash string) []ComponentCheck {
	base := ComponentCheck{Name: "sha256sums", Path: SumsFile, Kind: FileSums}
	f, err := os.Open(filepath.Join(packDir, SumsFile))
	if err != nil {
		c := base
		c.Expected, c.Actual, c.Detail = "present", "missing", fmt.Sprintf("%v; every pack has one (`sha256sum -c SHA256SUMS`)", err)
		return []ComponentCheck{c}
	}
	defer f.Close()
	sums, err := ParseSums(io.LimitReader(f, 16<<20))
	if err != nil {
		c := base
		c.Detail = err.Error()
		return []ComponentCheck{c}
	}
	want := map[string]string{ManifestFile: manifestHash}
	for _, fe := range m.Files {
		want[fe.Path] = fe.SHA256
	}
	var out []ComponentCheck
	seen := map[string]bool{}
	for _, s := range sums {
		if seen[s.Path] {
			c := base
			c.Detail = fmt.Sprintf("lists %s twice", s.Path)
			out = append(out, c)
			continue
		}
		seen[s.Path] = true
		w, ok := want[s.Path]
		switch {
		case !ok:
			c := base
			c.Detail = fmt.Sprintf("lists %s, which the manifest does not", s.Path)
			out = append(out, c)
		case w != s.SHA256:
			c := base
			what := "the manifest's checksum"
			if s.Path == ManifestFile {
				what = "the sha256 of manifest.json (the package hash)"
			}
			c.Expected, c.Actual = "sha256 "+w, "sha256 "+s.SHA256
			c.Detail = fmt.Sprintf("the line for %s differs from %s", s.Path, what)
			out = append(out, c)
		}
	}
	var missing []string
	for p := range want {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		c := base
		c.Detail = "does not list " + strings.Join(missing, ", ")
		out = append(out, c)
	}
	if len(out) == 0 {
		c := base
		c.OK, c.Detail = true, fmt.Sprintf("%d checksums agree with the manifest", len(sums))
		out = append(out, c)
	}
	return out
}

// openPackFile opens a listed file, refusing anything but a regular file
// (a symlink could point out of the pack).
func openPackFile(packDir string, f FileEntry, c *ComponentCheck) (*os.File, bool) {
	p := filepath.Join(packDir, filepath.FromSlash(f.Path))
	fi, err := os.Lstat(p)
	if err != nil {
		c.Expected, c.Actual = "present", "missing"
		c.Detail = err.Error()
		return nil, false
	}
	if !fi.Mode().IsRegular() {
		c.Expected, c.Actual = "regular file", fi.Mode().String()
		c.Detail = "not a regular file"
		return nil, false
	}
	if fi.Size() != f.Size {
		c.Expected, c.Actual = fmt.Sprintf("size %d", f.Size), fmt.Sprintf("size %d", fi.Size())
		c.Detail = "the file was truncated or changed after the pack was written"
		return nil, false
	}
	fh, err := os.Open(p)
	if err != nil {
		c.Detail = err.Error()
		return nil, false
	}
	return fh, true
}

// deepCheck reads one file once: size and sha256 while its structure is
// validated. It returns the bytes read; an error only for ctx or staging.
func deepCheck(ctx context.Context, packDir string, m *Manifest, f FileEntry, o VerifyOptions, trk *progress.Tracker) (ComponentCheck, int64, error) {
	c := ComponentCheck{Name: componentCheckName(f, m), Path: f.Path, Kind: f.Kind}
	trk.Begin(progress.StepVerify, f.Path, f.Size, fmt.Sprintf("verifying %s (%s)", f.Path, units.BytesSize(float64(f.Size))))
	fh, ok := openPackFile(packDir, f, &c)
	if !ok {
		trk.Add(f.Size) // keep the percentage moving past a file not read
		return c, 0, nil
	}
	defer fh.Close()
	hw := fsutil.NewHashWriter(trk.Writer(io.Discard))
	r := io.TeeReader(fsutil.ContextReader(ctx, fh), hw)
	var structure string // what the structure check found wrong ("" = fine)
	var detail string
	switch f.Kind {
	case FileVolume:
		sum, err := tarcheck.ValidateTar(ctx, r)
		if err != nil && ctx.Err() == nil {
			structure = err.Error()
		}
		detail = fmt.Sprintf("tar complete: %d entries, %s of file content", sum.Entries, units.BytesSize(float64(sum.ContentBytes)))
	case FileImages:
		arch, err := tarcheck.ValidateImageArchive(ctx, r)
		if err != nil && ctx.Err() == nil {
			structure = "images.tar: " + err.Error()
		} else if err == nil {
			structure = imagesMissing(m, arch)
			detail = fmt.Sprintf("image archive complete (%s format): %d images", arch.Format, len(arch.Images))
		}
	case FileSQLite:
		msg, err := stageAndCheckSQLite(ctx, r, f, o)
		if err != nil {
			return c, hw.N(), err
		}
		structure, detail = msg, fmt.Sprintf("%s ok on a local copy", o.SQLiteCheck)
	default:
		detail = "checksum"
	}
	if ctx.Err() != nil {
		return c, hw.N(), context.Cause(ctx)
	}
	// The validators stop at the end of the archive (or at an error): read
	// the rest so that the checksum covers every byte.
	if _, err := io.Copy(io.Discard, r); err != nil {
		if ctx.Err() != nil {
			return c, hw.N(), context.Cause(ctx)
		}
		c.Detail = fmt.Sprintf("read error after %d bytes: %v", hw.N(), err)
		return c, hw.N(), nil
	}
	n, sum := hw.N(), hw.Sum()
	switch {
	case n != f.Size:
		c.Expected, c.Actual = fmt.Sprintf("size %d", f.Size), fmt.Sprintf("size %d", n)
		c.Detail = "the file changed while it was read"
	case sum != f.SHA256:
		c.Expected, c.Actual = "sha256 "+f.SHA256, "sha256 "+sum
		c.Detail = "the content differs from what was written (damaged or altered); the pack cannot be trusted"
	}
	if structure != "" {
		if c.Detail != "" {
			c.Detail += "; "
		}
		c.Detail += structure
	}
	if c.Expected == "" && structure == "" {
		c.OK, c.Detail = true, detail
	}
	return c, n, nil
}

// imagesMissing says which images of the manifest the archive lacks ("" = none).
func imagesMissing(m *Manifest, arch tarcheck.ImageArchive) string {
	have := map[string][]string{}
	for _, im := range arch.Images {
		have[im.ConfigDigest] = append(have[im.ConfigDigest], im.RepoTags...)
	}
	var probs []string
	for _, im := range m.Images {
		tags, ok := have[im.ConfigDigest]
		if !ok {
			probs = append(probs, fmt.Sprintf("image %s (%s) is not in images.tar", im.ConfigDigest, strings.Join(im.RepoTags, ", ")))
			continue
		}
		for _, t := range im.RepoTags {
			if !slices.ContainsFunc(tags, func(s string) bool { return sameRef(s, t) }) {
				probs = append(probs, fmt.Sprintf("tag %s of image %s is not in images.tar", t, im.ConfigDigest))
			}
		}
	}
	return strings.Join(probs, "; ")
}

// sameRef compares image references, tolerating the docker.io/library/ prefix.
func sameRef(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(s, "docker.io/")
		return strings.TrimPrefix(s, "library/")
	}
	return norm(a) == norm(b)
}

// stageAndCheckSQLite copies the snapshot stream into a private staging
// directory and checks the copy there. It returns what the check found
// wrong ("" = fine); an error only when staging is unusable or ctx ends.
func stageAndCheckSQLite(ctx context.Context, r io.Reader, f FileEntry, o VerifyOptions) (string, error) {
	if err := os.MkdirAll(o.StagingDir, 0o700); err != nil {
		return "", fmt.Errorf("verify: staging directory %s: %w", o.StagingDir, err)
	}
	dir, err := os.MkdirTemp(o.StagingDir, "dockpack-verify-*")
	if err != nil {
		return "", fmt.Errorf("verify: create a staging directory in %s: %w (set the staging dir to a local directory with room for %s)",
			o.StagingDir, err, units.BytesSize(float64(f.Size)))
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, filepath.Base(f.Path))
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("verify: staging copy %s: %w", p, err)
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", fmt.Errorf("verify: copy %s to staging %s: %w", f.Path, dir, err)
	}
	if err := sqlitesnap.Check(ctx, p, o.SQLiteCheck); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return strings.ReplaceAll(err.Error(), p, f.Path), nil
	}
	return "", nil
}

var sqliteMagic = []byte("SQLite format 3\x00")

// structuralCheck checks one file without hashing it.
func structuralCheck(ctx context.Context, packDir string, m *Manifest, f FileEntry) (ComponentCheck, error) {
	c := ComponentCheck{Name: componentCheckName(f, m), Path: f.Path, Kind: f.Kind}
	fh, ok := openPackFile(packDir, f, &c)
	if !ok {
		return c, nil
	}
	defer fh.Close()
	switch f.Kind {
	case FileVolume, FileImages:
		entries, names, err := walkTarHeaders(ctx, fh)
		if ctx.Err() != nil {
			return c, context.Cause(ctx)
		}
		if err != nil {
			c.Detail = fmt.Sprintf("tar headers: %v", err)
			return c, nil
		}
		if entries == 0 {
			c.Detail = "the tar holds no entry"
			return c, nil
		}
		if f.Kind == FileImages && !names[imageArchiveManifest] {
			c.Detail = "images.tar has no manifest.json"
			return c, nil
		}
		c.Detail = fmt.Sprintf("%d tar headers well-formed", entries)
	case FileSQLite:
		head := make([]byte, len(sqliteMagic))
		if _, err := io.ReadFull(fh, head); err != nil || !bytes.Equal(head, sqliteMagic) {
			c.Expected, c.Actual = "an SQLite database header", fmt.Sprintf("%q", head)
			c.Detail = "not an SQLite database"
			return c, nil
		}
		c.Detail = "SQLite header"
	default:
		c.Detail = "size"
	}
	c.OK = true
	return c, nil
}

// imageArchiveManifest is the top-level manifest.json of an image archive.
const imageArchiveManifest = "manifest.json"

// walkTarHeaders reads every header of a tar file, seeking over the data
// (archive/tar seeks an io.Seeker and reads the last byte of each entry, so
// a truncated file is noticed). It returns the entry count and the
// top-level names.
func walkTarHeaders(ctx context.Context, f *os.File) (int, map[string]bool, error) {
	tr := tar.NewReader(f)
	names := map[string]bool{}
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, names, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, names, nil
		}
		if err != nil {
			return n, names, fmt.Errorf("after %d entries: %w", n, err)
		}
		n++
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
}
