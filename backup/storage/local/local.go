// Package local is the storage backend of a verified local or mounted
// directory (a CIFS share): every create, write, rename and remove goes
// through the directory handle pinned when the backend is opened
// (mountcheck.Pinned.OpenRoot, an os.Root), never by path, so a share that
// drops or is replaced can never redirect a byte or a directory to another
// filesystem.
//
// The pin is checked before each object is created, every CheckBytes
// written, and at Commit; before an object is opened for reading once
// CheckBytes have been opened since the last check (a read goes through
// the pinned handle too, so it reads the pinned filesystem or fails: the
// check only names a dropped share early, and costs ~150 µs — per 1 MiB
// chunk of a store restore, 0.3 s of CPU per 2 GiB).
//
// Directories are created with the object's read
// bits plus search, each re-checked to be on the pinned device (a mount
// point inside the target is never written into). An object is written to
// a temporary name that carries its owner's token
// (".dockpack-upload-<token>.<random>", in the object's directory), fsynced,
// and renamed to its key (Exclusive: renameat2 RENAME_NOREPLACE, or a link
// where the filesystem lacks it), then the directory is fsynced; AbortStale
// removes the temporary files of dead owners. A directory is a prefix that
// can be renamed at once (storage.Renamer).
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/mountcheck"
)

// TempPrefix starts the name of an object being written.
const TempPrefix = ".dockpack-upload-"

// Options configure Open.
type Options struct {
	// Pin is the target's pin, borrowed (the caller closes it). When nil,
	// Open pins Dir itself (and Close releases it).
	Pin *mountcheck.Pinned
	// Dir is the directory to pin when Pin is nil (it must exist).
	Dir string
	// Owner is the token temporary names carry (required to write).
	Owner string
	// CheckBytes is how many bytes may be written, or opened for reading,
	// between two pin checks. Default 64 MiB.
	CheckBytes int64
}

// Backend is a pinned directory.
type Backend struct {
	pin     *mountcheck.Pinned
	ownPin  bool
	root    *os.Root
	owner   string
	every   int64
	dirMu   sync.Mutex      // guards dirMode: uploads are created from several goroutines (a store's writers, its lease renewal)
	dirMode map[string]bool // directories known to exist (created or seen)
	opened  atomic.Int64    // bytes opened for reading since the last pin check
}

var (
	_ storage.Backend = (*Backend)(nil)
	_ storage.Renamer = (*Backend)(nil)
)

// Open opens the backend on a pinned directory.
func Open(ctx context.Context, o Options) (*Backend, error) {
	if o.CheckBytes <= 0 {
		o.CheckBytes = 64 << 20
	}
	if strings.ContainsAny(o.Owner, "./\\") {
		return nil, fmt.Errorf("local storage: owner token %q has a separator", o.Owner)
	}
	b := &Backend{pin: o.Pin, owner: o.Owner, every: o.CheckBytes, dirMode: map[string]bool{".": true}}
	if b.pin == nil {
		pin, err := mountcheck.Pin(ctx, o.Dir)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		b.pin, b.ownPin = pin, true
	}
	root, err := b.pin.OpenRoot()
	if err != nil {
		b.closePin()
		return nil, fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	b.root = root
	return b, nil
}

// Location is the pinned directory's path.
func (b *Backend) Location() string { return b.pin.Report().Path }

// Root is the pinned directory handle (read it, never write around the backend).
func (b *Backend) Root() *os.Root { return b.root }

func (b *Backend) closePin() {
	if b.ownPin {
		b.pin.Close()
	}
}

// Close releases the handle (and the pin when Open made it).
func (b *Backend) Close() error {
	err := b.root.Close()
	b.closePin()
	return err
}

// Check re-checks the pin.
func (b *Backend) Check(ctx context.Context) error {
	if err := b.pin.Check(ctx); err != nil {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return nil
}

func validKey(key string) error {
	if !storage.ValidKey(key) {
		return fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	return nil
}

// dirModeOf is the mode of the directories created for files of mode m:
// its read bits plus search.
func dirModeOf(m os.FileMode) os.FileMode { return m | (m&0o444)>>2 | 0o100 }

// mkdirAll creates dir's missing directories, each checked to be on the pinned device.
func (b *Backend) mkdirAll(dir string, mode os.FileMode) error {
	b.dirMu.Lock()
	defer b.dirMu.Unlock()
	return b.mkdirAllLocked(dir, mode)
}

func (b *Backend) mkdirAllLocked(dir string, mode os.FileMode) error {
	if dir == "." || dir == "" || b.dirMode[dir] {
		return nil
	}
	if err := b.mkdirAllLocked(path.Dir(dir), mode); err != nil {
		return err
	}
	if err := b.root.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := b.root.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("local storage: %s is not a directory", dir)
	}
	if err := b.pin.SameDevice(dir, fi); err != nil {
		return err
	}
	b.dirMode[dir] = true
	return nil
}

// Open reads an object from offset (length < 0: to its end).
func (b *Backend) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	if length < 0 || b.opened.Add(length) > b.every {
		if err := b.Check(ctx); err != nil {
			return nil, err
		}
		b.opened.Store(0)
	} else if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := b.root.Open(key)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("local storage: %s is not a regular file", key)
		}
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	if length < 0 {
		return f, nil
	}
	return &limited{Reader: io.LimitReader(f, length), c: f}, nil
}

type limited struct {
	io.Reader
	c io.Closer
}

func (l *limited) Close() error { return l.c.Close() }

// Stat describes a regular file.
func (b *Backend) Stat(ctx context.Context, key string) (storage.Info, error) {
	if err := validKey(key); err != nil {
		return storage.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, err
	}
	fi, err := b.root.Lstat(key)
	if err != nil {
		return storage.Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return storage.Info{}, fmt.Errorf("local storage: %s is not a regular file: %w", key, storage.ErrNotExist)
	}
	return storage.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List calls fn for the regular files under prefix, in lexical order of
// keys; temporary files are left out.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	dir := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
		if dir == "" || !storage.ValidKey(dir) {
			return fmt.Errorf("%w: prefix %q", storage.ErrInvalidKey, prefix)
		}
	}
	var out []storage.Info
	err := fs.WalkDir(b.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), TempPrefix) || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, storage.Info{Key: p, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(out, func(a, b storage.Info) int { return strings.Compare(a.Key, b.Key) })
	for _, i := range out {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes an object (a missing one is not an error).
func (b *Backend) Remove(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	if err := b.Check(ctx); err != nil {
		return err
	}
	if err := b.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// RenamePrefix renames the directory from to to (which must not exist).
func (b *Backend) RenamePrefix(ctx context.Context, from, to string) error {
	if err := validKey(from); err != nil {
		return err
	}
	if err := validKey(to); err != nil {
		return err
	}
	if err := b.Check(ctx); err != nil {
		return err
	}
	if err := b.mkdirAll(path.Dir(to), 0o700); err != nil {
		return err
	}
	if err := b.renameNoReplace(from, to); err != nil {
		return err
	}
	if err := b.syncDir(path.Dir(to)); err != nil {
		return err
	}
	return b.syncDir(path.Dir(from))
}

// AbortStale removes the temporary files whose owner dead says is dead.
func (b *Backend) AbortStale(ctx context.Context, dead func(owner string) bool) (int, error) {
	n := 0
	var errs []error
	err := fs.WalkDir(b.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || !strings.HasPrefix(name, TempPrefix) {
			return nil
		}
		tok, _, ok := strings.Cut(strings.TrimPrefix(name, TempPrefix), ".")
		if !ok || tok == b.owner || !dead(tok) {
			return nil
		}
		if err := b.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			return nil
		}
		n++
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

func (b *Backend) syncDir(dir string) error {
	f, err := b.root.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
