package pack

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/mountcheck"
)

// Dir is a pack directory opened for reading through its mount pin: every
// file is opened relative to the pinned directory handle (never by path,
// so a share that drops or is replaced cannot substitute other files), and
// the pin is checked when a file is opened and on a timer while the Dir is
// open. A share that drops mid-read fails the reader with an error wrapping
// mountcheck.ErrMountChanged — never with a garbled read.
type Dir struct {
	path string
	pin  *mountcheck.Pinned
	root *os.Root
	stop func()
	// store is the target's pack store, opened for a store pack's reads.
	store *openedStore
	// keys open a sealed pack's files (SetKeys, sealed.go).
	keys *seal.Keys
}

// DirCheckInterval is how often an open Dir re-checks its pin.
const DirCheckInterval = 2 * time.Second

// OpenDir pins and opens the pack directory at path. lost, when set, is
// called once with the error when the pin fails while the Dir is open
// (callers cancel their work with it). Close it when done.
func OpenDir(ctx context.Context, path string, lost func(error)) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", abs)
	}
	pin, err := mountcheck.Pin(ctx, abs)
	if err != nil {
		return nil, err
	}
	root, err := pin.OpenRoot()
	if err != nil {
		pin.Close()
		return nil, err
	}
	d := &Dir{path: abs, pin: pin, root: root, stop: func() {}}
	if lost != nil {
		d.stop = pin.Watch(ctx, DirCheckInterval, lost)
	}
	return d, nil
}

// Path is the pack directory's path.
func (d *Dir) Path() string { return d.path }

// Check re-checks the pin now.
func (d *Dir) Check(ctx context.Context) error { return d.pin.Check(ctx) }

// Lstat describes rel (slash-separated, inside the pack) without following a symlink.
func (d *Dir) Lstat(rel string) (fs.FileInfo, error) {
	return d.root.Lstat(filepath.FromSlash(rel))
}

// Open opens rel for reading after re-checking the pin.
func (d *Dir) Open(ctx context.Context, rel string) (*os.File, error) {
	if err := d.pin.Check(ctx); err != nil {
		return nil, err
	}
	return d.root.Open(filepath.FromSlash(rel))
}

// Close stops the pin's watch and releases the handles.
func (d *Dir) Close() error {
	d.stop()
	if d.store != nil {
		d.store.close()
	}
	d.root.Close()
	return d.pin.Close()
}
