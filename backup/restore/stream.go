package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// openChecked opens a pack file for streaming: counted for progress,
// wrapped by the test hook, and failing instead of ending when the bytes
// do not match the manifest's size and checksum.
func (r *restorer) openChecked(ctx context.Context, s progress.Step, item string, fe pack.FileEntry) (io.Reader, func(), error) {
	// A classic pack's own file, or a store pack's file streamed from its
	// chunks (each checked against its id as it comes).
	f, err := r.pd.OpenFile(ctx, r.m, fe)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(r.dir, filepath.FromSlash(fe.Path)), err)
	}
	var rd io.Reader = newCheckedReader(fsutil.ContextReader(ctx, f), r.trk.Writer(io.Discard), fe, r.m.Sealed())
	if h := r.spec.Hooks.WrapReader; h != nil {
		rd = h(s, item, rd)
	}
	return rd, func() { f.Close() }, nil
}

// openGuarded opens images.tar for streaming into an engine that checks
// layers: counted for progress, wrapped by the test hook, checked by
// imagesGuard.
func (r *restorer) openGuarded(ctx context.Context, fe pack.FileEntry) (io.Reader, func(), error) {
	f, err := r.pd.OpenFile(ctx, r.m, fe)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(r.dir, filepath.FromSlash(fe.Path)), err)
	}
	var rd io.Reader = newImagesGuard(fsutil.ContextReader(ctx, f), r.trk.Writer(io.Discard), fe, r.m.Images)
	if h := r.spec.Hooks.WrapReader; h != nil {
		rd = h(progress.StepImages, pack.ImagesFile, rd)
	}
	return rd, func() { f.Close() }, nil
}

// checkedReader hashes what passes and, at the end, returns ErrPackChanged
// instead of io.EOF when size or sha256 differ from the manifest. What
// passes is also written to prog (progress).
//
// A sealed file's reader (pack.Dir.OpenFile) checks its ciphertext against
// the manifest itself: its plaintext is only counted here, and what
// differs, or an age chunk that fails to authenticate, is ErrPackChanged too.
type checkedReader struct {
	r      io.Reader
	prog   io.Writer
	hw     *fsutil.HashWriter // nil for a sealed file
	n      int64
	fe     pack.FileEntry
	sealed bool
}

func newCheckedReader(r io.Reader, prog io.Writer, fe pack.FileEntry, sealed bool) *checkedReader {
	c := &checkedReader{r: r, prog: prog, fe: fe, sealed: sealed}
	if !sealed {
		c.hw = fsutil.NewHashWriter(nil)
	}
	return c
}

// N is how many bytes passed.
func (c *checkedReader) N() int64 { return c.n }

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		c.prog.Write(p[:n])
		if c.hw != nil {
			c.hw.Write(p[:n])
		}
	}
	if c.sealed {
		if err != nil && (errors.Is(err, pack.ErrSealedChanged) || errors.Is(err, seal.ErrDamaged)) {
			return n, fmt.Errorf("%w: %w", ErrPackChanged, err)
		}
		return n, err
	}
	if c.n > c.fe.Size {
		return n, fmt.Errorf("%w: %s is longer than the %d bytes the manifest records", ErrPackChanged, c.fe.Path, c.fe.Size)
	}
	if errors.Is(err, io.EOF) {
		if c.n != c.fe.Size {
			return n, fmt.Errorf("%w: %s: expected size %d, actual %d", ErrPackChanged, c.fe.Path, c.fe.Size, c.n)
		}
		if sum := c.hw.Sum(); sum != c.fe.SHA256 {
			return n, fmt.Errorf("%w: %s: expected sha256 %s, actual %s", ErrPackChanged, c.fe.Path, c.fe.SHA256, sum)
		}
	}
	return n, err
}
