package pack

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

// openPackFile opens a listed file, refusing anything but a regular file
// (a symlink could point out of the pack) of the recorded size.
func openPackFile(ctx context.Context, d *Dir, f FileEntry, c *check.Check) (*os.File, bool) {
	fi, err := d.Lstat(f.Path)
	if err != nil {
		code := CodeMissing
		if !errors.Is(err, fs.ErrNotExist) {
			code = CodeReadError
		}
		differ(c, code, "present", "missing", err.Error())
		return nil, false
	}
	if !fi.Mode().IsRegular() {
		differ(c, CodeNotRegular, "regular file", fi.Mode().String(), "not a regular file")
		return nil, false
	}
	if fi.Size() != f.Size {
		differ(c, CodeSizeMismatch, fmt.Sprintf("size %d", f.Size), fmt.Sprintf("size %d", fi.Size()),
			"the file was truncated or changed after the pack was written")
		return nil, false
	}
	fh, err := d.Open(ctx, f.Path)
	if err != nil {
		fail(c, CodeReadError, err.Error())
		return nil, false
	}
	return fh, true
}

// finding is what a structure check of a file's content found.
type finding struct {
	code    string // "" = fine
	problem string // what is wrong
	detail  string // what was checked, when fine
}

// deepCheck reads one file once: size and sha256 while its structure is
// validated. It returns the bytes read; an error only for ctx or staging.
func deepCheck(ctx context.Context, d *Dir, m *Manifest, f FileEntry, o VerifyOptions, trk *progress.Tracker) (check.Check, int64, error) {
	c := fileCheck(f, m)
	trk.Begin(progress.StepVerify, f.Path, f.Size, i18n.T(o.Lang, "verify.progress.file", f.Path, units.BytesSize(float64(f.Size))))
	if m.sealedFiles() { // sealed.go
		n, err := sealedDeepCheck(ctx, d, m, f, o, &c, trk.Writer(io.Discard))
		if n == 0 && err == nil {
			trk.Add(f.Size)
		}
		return c, n, err
	}
	var fh io.ReadCloser
	ok := false
	if m.IsStore() {
		fh, ok = openStoreFile(ctx, d, m, f, &c)
	} else {
		fh, ok = openPackFile(ctx, d, f, &c)
	}
	if !ok {
		trk.Add(f.Size) // keep the percentage moving past a file not read
		return c, 0, nil
	}
	defer fh.Close()
	hw := fsutil.NewHashWriter(trk.Writer(io.Discard))
	var sink io.Writer = hw
	sum := hw.Sum
	if m.IsStore() && d.store != nil && d.store.st.Sealed() { // the file's checksum is keyed (store.FileHash)
		kh := d.store.st.FileHash()
		sink, sum = io.MultiWriter(hw, kh), func() string { return hex.EncodeToString(kh.Sum(nil)) }
	}
	r := io.TeeReader(fsutil.ContextReader(ctx, fh), sink)
	fd, err := checkContent(ctx, r, m, f, o)
	if err != nil {
		if damagedBlob(ctx, d, &c, err) {
			return c, hw.N(), nil
		}
		return c, hw.N(), err
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
		if damagedBlob(ctx, d, &c, err) {
			return c, hw.N(), nil
		}
		fail(&c, CodeReadError, fmt.Sprintf("read error after %d bytes: %v", hw.N(), err))
		return c, hw.N(), nil
	}
	judge(&c, f, hw.N(), sum(), fd)
	return c, hw.N(), nil
}

// checkContent validates the structure of a file's content as it streams
// through r. An error only for staging (or ctx).
func checkContent(ctx context.Context, r io.Reader, m *Manifest, f FileEntry, o VerifyOptions) (finding, error) {
	var fd finding
	switch f.Kind {
	case FileVolume, FileBind:
		sum, err := tarcheck.ValidateTar(ctx, r)
		if err != nil && ctx.Err() == nil {
			fd.code, fd.problem = CodeStructure, err.Error()
		}
		fd.detail = fmt.Sprintf("tar complete: %d entries, %s of file content", sum.Entries, units.BytesSize(float64(sum.ContentBytes)))
	case FileImages:
		arch, err := tarcheck.ValidateImageArchive(ctx, r)
		if err != nil && ctx.Err() == nil {
			fd.code, fd.problem = CodeStructure, "images.tar: "+err.Error()
		} else if err == nil {
			if fd.problem = imagesMissing(m, arch); fd.problem != "" {
				fd.code = CodeImagesMissing
			}
			fd.detail = fmt.Sprintf("image archive complete (%s format): %d images", arch.Format, len(arch.Images))
		}
	case FileSQLite:
		msg, err := stageAndCheckSQLite(ctx, r, f, o)
		if err != nil {
			return fd, err
		}
		if msg != "" {
			fd.code, fd.problem = CodeStructure, msg
		}
		fd.detail = fmt.Sprintf("%s ok on a local copy", o.SQLiteCheck)
	case FileImageConfig, FileImageLayer:
		fd = checkImageFile(ctx, r, m, f) // images_layers.go
	case FileDump:
		fd.detail = "checksum"
		if f.Size == 0 {
			fd.code, fd.problem = CodeStructure, "the dump is empty"
		}
	default:
		fd.detail = "checksum"
	}
	return fd, nil
}

// judge sets c from what was read: n bytes with sha256 sum, and the
// structure finding. A size or checksum difference is the check's code; a
// structure problem is added to its detail.
func judge(c *check.Check, f FileEntry, n int64, sum string, fd finding) {
	switch {
	case n != f.Size:
		differ(c, CodeSizeMismatch, fmt.Sprintf("size %d", f.Size), fmt.Sprintf("size %d", n), "the file changed while it was read")
	case sum != f.SHA256:
		differ(c, CodeSHA256Mismatch, "sha256 "+f.SHA256, "sha256 "+sum,
			"the content differs from what was written (damaged or altered); the pack cannot be trusted")
	case fd.code != "":
		fail(c, fd.code, fd.problem)
		return
	default:
		pass(c, fd.detail)
		return
	}
	if fd.problem != "" {
		c.Detail += "; " + fd.problem
	}
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
