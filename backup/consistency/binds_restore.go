package consistency

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// ExtractBind writes a bind's tar (r, as WriteBindTar made it) to dest: the
// file (written beside it and renamed into place once r was read to its
// end, so a checksum error at the end of r leaves dest unchanged) or the
// directory's content (through an os.Root on dest: no entry lands outside
// it). An existing destination that holds data is ErrBindExists unless
// force (a directory's entries are then written over); an empty directory
// where a file belongs (the engine makes one for a missing bind source) is
// replaced. Owners are kept when the process may set them.
func ExtractBind(ctx context.Context, r io.Reader, typ, dest string, force bool) error {
	r = fsutil.ContextReader(ctx, r)
	switch typ {
	case pack.BindFile:
		return extractBindFile(r, dest, force)
	case pack.BindDir:
		return extractBindDir(r, dest, force)
	}
	return fmt.Errorf("unknown bind type %q", typ)
}

// BindDestHoldsData reports whether dest exists with content: a file, or
// a non-empty directory.
func BindDestHoldsData(dest string) (bool, error) {
	fi, err := os.Lstat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return true, nil
	}
	ents, err := os.ReadDir(dest)
	return len(ents) > 0, err
}

func extractBindFile(r io.Reader, dest string, force bool) error {
	if has, err := BindDestHoldsData(dest); err != nil || (has && !force) {
		return errors.Join(err, existsErr(has && !force, dest))
	}
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return fmt.Errorf("the bind's tar: %w", err)
	}
	if h.Typeflag != tar.TypeReg {
		return fmt.Errorf("the bind's tar holds %q of type %c, want one regular file", h.Name, h.Typeflag)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := dest + ".dockpack-restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fs.FileMode(h.Mode).Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(f, tr)
	if err == nil {
		if _, nerr := tr.Next(); !errors.Is(nerr, io.EOF) {
			err = fmt.Errorf("the bind's tar holds more than one file (%v)", nerr)
		}
	}
	if err == nil {
		_, err = io.Copy(io.Discard, r) // the end, where the checksum is checked
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		_ = os.Chmod(tmp, fs.FileMode(h.Mode).Perm()) // beyond the umask
		_ = os.Lchown(tmp, h.Uid, h.Gid)
		_ = os.Chtimes(tmp, h.ModTime, h.ModTime)
		// An empty directory where the file belongs is what the engine
		// creates for a missing bind source when a container starts.
		if fi, serr := os.Lstat(dest); serr == nil && fi.IsDir() {
			_ = os.Remove(dest)
		}
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func extractBindDir(r io.Reader, dest string, force bool) error {
	if has, err := BindDestHoldsData(dest); err != nil || (has && !force) {
		return errors.Join(err, existsErr(has && !force, dest))
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	var dirs []*tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("the bind's tar: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "" || name == "/" {
			name = "."
		}
		if err := extractEntry(root, tr, h, name); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeDir {
			hh := *h
			hh.Name = name
			dirs = append(dirs, &hh)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- { // directories' times after their content
		_ = root.Chtimes(dirs[i].Name, dirs[i].ModTime, dirs[i].ModTime)
	}
	_, err = io.Copy(io.Discard, r)
	return err
}

func extractEntry(root *os.Root, tr *tar.Reader, h *tar.Header, name string) error {
	mode := fs.FileMode(h.Mode).Perm()
	switch h.Typeflag {
	case tar.TypeDir:
		if name != "." {
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
		}
		_ = root.Chmod(name, mode)
	case tar.TypeReg:
		_ = root.Remove(name)
		f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		_ = root.Chmod(name, mode)
		_ = root.Chtimes(name, h.ModTime, h.ModTime)
	case tar.TypeSymlink:
		_ = root.Remove(name)
		if err := root.Symlink(h.Linkname, name); err != nil {
			return err
		}
	case tar.TypeLink:
		_ = root.Remove(name)
		if err := root.Link(path.Clean(strings.TrimPrefix(h.Linkname, "./")), name); err != nil {
			return err
		}
	default:
		return nil // devices and pipes are not restored
	}
	_ = root.Lchown(name, h.Uid, h.Gid)
	return nil
}

func existsErr(exists bool, dest string) error {
	if !exists {
		return nil
	}
	return fmt.Errorf("%w: %s holds data (restore over it with force)", ErrBindExists, dest)
}
