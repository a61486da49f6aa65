package sqlitesnap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/docker/go-units"
	"golang.org/x/sys/unix"

	"github.com/dockpack/dockpack/internal/fsutil"
)

// copyChunk is the read/write size of the checksummed copy.
const copyChunk = 1 << 20

// copyOut describes a file written by copyToTemp.
type copyOut struct {
	tmp    string // the temp file beside the destination (closed, fsynced)
	bytes  int64
	sha256 string
}

// copyToTemp streams from (a local file) into a new temp file in the
// directory of to, hashing while copying, then fsyncs and closes it. It
// calls guard before the first byte and at least every GuardInterval bytes,
// checks ctx between chunks and reports phase progress. On error the temp
// file is removed. owner, when non-nil, is applied to the temp file
// (uid/gid and mode of a file being replaced).
func copyToTemp(ctx context.Context, open Opener, from, to string, perm os.FileMode, owner os.FileInfo, guard func(context.Context) error, rep *reporter, phase string) (out copyOut, err error) {
	dir := filepath.Dir(to)
	f, err := os.CreateTemp(dir, fsutil.TempName+filepath.Base(to)+"-*")
	if err != nil {
		return out, fmt.Errorf("sqlitesnap: create a temp file in %s: %w", dir, err)
	}
	out.tmp = f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(out.tmp)
			out = copyOut{}
		}
	}()

	n, sum, err := streamCopy(ctx, open, from, f, guard, rep, phase)
	if err != nil {
		return out, err
	}
	if owner != nil {
		if sys, ok := owner.Sys().(*syscall.Stat_t); ok {
			if cerr := f.Chown(int(sys.Uid), int(sys.Gid)); cerr != nil && !errors.Is(cerr, os.ErrPermission) {
				return out, fmt.Errorf("sqlitesnap: chown %s: %w", out.tmp, cerr)
			}
		}
		perm = owner.Mode().Perm()
	}
	if err = f.Chmod(perm); err != nil {
		return out, err
	}
	if err = f.Sync(); err != nil {
		return out, fmt.Errorf("sqlitesnap: fsync %s: %w", out.tmp, err)
	}
	if err = f.Close(); err != nil {
		return out, writeErr(to, err)
	}
	out.bytes, out.sha256 = n, sum
	return out, nil
}

// streamCopy copies the local file from to w, hashing while copying. It
// calls guard before the first byte and at least every GuardInterval bytes,
// checks ctx between chunks and reports phase progress.
func streamCopy(ctx context.Context, open Opener, from string, w io.Writer, guard func(context.Context) error, rep *reporter, phase string) (int64, string, error) {
	in, err := open.open(from)
	if err != nil {
		return 0, "", fmt.Errorf("sqlitesnap: open %s for copying: %w", from, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return 0, "", err
	}
	total := st.Size()
	callGuard := func(at int64) error {
		if guard == nil {
			return nil
		}
		if gerr := guard(ctx); gerr != nil {
			return fmt.Errorf("sqlitesnap: copy of %s stopped by the guard after %s: %w", from, units.BytesSize(float64(at)), gerr)
		}
		return nil
	}
	if err := callGuard(0); err != nil {
		return 0, "", err
	}
	hw := fsutil.NewHashWriter(w)
	buf := make([]byte, copyChunk)
	nextGuard := int64(GuardInterval)
	rep.update(Progress{Phase: phase, Done: 0, Total: total, Unit: "bytes"}, true)
	for {
		if err := ctx.Err(); err != nil {
			return 0, "", fmt.Errorf("sqlitesnap: copy of %s: stopped: %w", from, err)
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := hw.Write(buf[:n]); err != nil {
				return 0, "", writeErr("the destination", err)
			}
			if hw.N() >= nextGuard {
				if err := callGuard(hw.N()); err != nil {
					return 0, "", err
				}
				nextGuard = hw.N() + GuardInterval
			}
			rep.update(Progress{Phase: phase, Done: hw.N(), Total: total, Unit: "bytes"}, false)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, "", fmt.Errorf("sqlitesnap: read %s: %w", from, rerr)
		}
	}
	if hw.N() != total {
		return 0, "", fmt.Errorf("sqlitesnap: copy %s: read %d bytes, the file has %d; it changed while being copied", from, hw.N(), total)
	}
	rep.update(Progress{Phase: phase, Done: hw.N(), Total: total, Unit: "bytes"}, true)
	return hw.N(), hw.Sum(), nil
}

func writeErr(to string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: write %s: %w; free space there or choose another destination", ErrInsufficientSpace, to, err)
	}
	return fmt.Errorf("sqlitesnap: write %s: %w", to, err)
}

// commitTemp calls guard once more, renames tmp over to and fsyncs the
// directory. On error tmp is removed.
func commitTemp(ctx context.Context, tmp, to string, guard func(context.Context) error) (err error) {
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if guard != nil {
		if gerr := guard(ctx); gerr != nil {
			return fmt.Errorf("sqlitesnap: rename to %s stopped by the guard: %w", to, gerr)
		}
	}
	if err = ctx.Err(); err != nil {
		return fmt.Errorf("sqlitesnap: rename to %s: stopped: %w", to, err)
	}
	if err = os.Rename(tmp, to); err != nil {
		return fmt.Errorf("sqlitesnap: rename %s to %s: %w", tmp, to, err)
	}
	return fsutil.SyncDir(filepath.Dir(to))
}

// freeSpace returns the bytes available to this user in the file system of
// dir. A variable so tests can simulate a full disk.
var freeSpace = func(dir string) (uint64, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return 0, err
	}
	return s.Bavail * uint64(s.Bsize), nil
}

// needSpace fails with ErrInsufficientSpace when dir has less than need
// bytes free. what names the directory's role.
func needSpace(dir, what string, need int64) error {
	free, err := freeSpace(dir)
	if err != nil {
		return fmt.Errorf("sqlitesnap: free space of %s directory %s: %w", what, dir, err)
	}
	if need > 0 && free < uint64(need) {
		return fmt.Errorf("%w: %s directory %s has %s free, the copy needs %s; free space or choose another directory",
			ErrInsufficientSpace, what, dir, units.BytesSize(float64(free)), units.BytesSize(float64(need)))
	}
	return nil
}

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Opener opens a file for reading; nil is os.Open. Restore reads a
// snapshot on a share through the caller's pinned directory handle with it.
type Opener func(name string) (*os.File, error)

func (o Opener) open(name string) (*os.File, error) {
	if o == nil {
		return os.Open(name)
	}
	return o(name)
}

// stat describes name through open (nil: os.Stat).
func (o Opener) stat(name string) (os.FileInfo, error) {
	if o == nil {
		return os.Stat(name)
	}
	f, err := o(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}
