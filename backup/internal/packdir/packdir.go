// Package packdir writes a pack directory onto a verified target through
// the target's pinned directory handle — never by path — so that a share
// that drops or is replaced mid-backup can never redirect a byte or a
// directory to another filesystem.
//
// A pack is built in <target>/.partial-<name>.<owner tag>/ and renamed to
// <target>/<name> only when every file is written, fsynced and the pin
// re-checked. Before anything exists, an owner record
// (<partial>.owner: who writes it, and later which containers it stopped)
// is written beside it, so a crashed writer's debris is attributable:
// Stale lists the records of dead owners for recovery. Directories are
// created 0700 and files 0600 (a pack holds the application's
// credentials), each created directory re-checked to be on the pinned
// device (a mount point inside the target is never written into). The pin
// is checked before each file is created, every CheckBytes while a file is
// written, and when it is closed; callers also watch it on a timer
// (mountcheck.Pinned.Watch) for the minutes an engine may send nothing.
package packdir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
)

// Naming inside a target.
const (
	// PartialPrefix starts the name of a pack being written.
	PartialPrefix = ".partial-"
	// OwnerSuffix ends the name of a partial pack's owner record.
	OwnerSuffix = ".owner"
)

// Container is a container a writer stopped (to start again if it dies).
type Container struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Record is a partial pack's owner record.
type Record struct {
	Owner   owner.Identity `json:"owner"`
	Partial string         `json:"partial"` // directory name in the target
	Final   string         `json:"final"`   // the pack's name once complete
	Created time.Time      `json:"created"`
	// Stopped lists the containers the writer stopped for a consistent copy.
	Stopped []Container `json:"stopped,omitempty"`
}

// Options configure Create.
type Options struct {
	// Pin is the target's pin (mountcheck.Pin of the verified target, which exists).
	Pin *mountcheck.Pinned
	// Name is the final directory name (migration_pack_<ts>).
	Name string
	// Owner writes the pack.
	Owner owner.Identity
	// DirMode and FileMode of what is created. Default 0700 and 0600.
	DirMode, FileMode os.FileMode
	// CheckBytes is how many bytes may be written between two pin checks. Default 64 MiB.
	CheckBytes int64
	// Intent, when set, is called with the partial directory's path before
	// anything is created (the daemon records it in its state DB).
	Intent func(ctx context.Context, partial string) error
}

func (o *Options) applyDefaults() {
	if o.DirMode == 0 {
		o.DirMode = 0o700
	}
	if o.FileMode == 0 {
		o.FileMode = 0o600
	}
	if o.CheckBytes == 0 {
		o.CheckBytes = 64 << 20
	}
}

// Dir is a pack directory being written.
type Dir struct {
	o       Options
	root    *os.Root // the target
	rec     Record
	target  string // the target's path, for messages and records
	done    bool
	created map[string]bool // directories created inside the partial dir
}

// PartialName is the partial directory name of a pack written by id.
func PartialName(name string, id owner.Identity) string {
	return PartialPrefix + name + "." + id.Tag()
}

// Create records the owner, then creates the partial directory of a new
// pack in the pinned target. A pack of that name existing already is an error.
func Create(ctx context.Context, o Options) (*Dir, error) {
	o.applyDefaults()
	target := o.Pin.Report().Path
	root, err := o.Pin.OpenRoot()
	if err != nil {
		return nil, err
	}
	d := &Dir{o: o, root: root, target: target, created: map[string]bool{".": true}}
	d.rec = Record{Owner: o.Owner, Partial: PartialName(o.Name, o.Owner), Final: o.Name, Created: time.Now().UTC()}
	fail := func(err error) (*Dir, error) {
		root.Close()
		return nil, err
	}
	if _, err := root.Lstat(o.Name); err == nil {
		return fail(fmt.Errorf("pack %s already exists in %s", o.Name, target))
	}
	if o.Intent != nil {
		if err := o.Intent(ctx, d.Partial()); err != nil {
			return fail(fmt.Errorf("recording the partial pack before creating it failed, so nothing was created: %w", err))
		}
	}
	if err := d.writeRecord(ctx); err != nil {
		return fail(err)
	}
	if err := d.mkdir(d.rec.Partial); err != nil {
		_ = root.Remove(d.rec.Partial + OwnerSuffix)
		return fail(fmt.Errorf("create pack directory: %w", err))
	}
	return d, nil
}

// Partial is the partial directory's path; Final the pack's path once committed.
func (d *Dir) Partial() string { return path.Join(d.target, d.rec.Partial) }

// Final is the pack's path once committed.
func (d *Dir) Final() string { return path.Join(d.target, d.o.Name) }

// mkdir creates one directory (relative to the target) and checks that it
// is on the pinned device.
func (d *Dir) mkdir(rel string) error {
	if err := d.root.Mkdir(rel, d.o.DirMode); err != nil {
		return err
	}
	fi, err := d.root.Lstat(rel)
	if err != nil {
		return err
	}
	return d.o.Pin.SameDevice(rel, fi)
}

// writeRecord writes the owner record atomically (temp, fsync, rename, fsync dir).
func (d *Dir) writeRecord(ctx context.Context) error {
	b, err := json.MarshalIndent(d.rec, "", "  ")
	if err != nil {
		return err
	}
	name := d.rec.Partial + OwnerSuffix
	tmp := fsutil.TempName + name
	f, err := d.root.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, d.o.FileMode)
	if err != nil {
		return fmt.Errorf("write the owner record %s: %w", name, err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = ctx.Err()
	}
	if werr == nil {
		werr = d.root.Rename(tmp, name)
	}
	if werr != nil {
		_ = d.root.Remove(tmp)
		return fmt.Errorf("write the owner record %s: %w", name, werr)
	}
	return syncRootDir(d.root, ".")
}

// RecordStopped adds containers to the owner record before they are stopped.
func (d *Dir) RecordStopped(ctx context.Context, cs []Container) error {
	d.rec.Stopped = append(d.rec.Stopped, cs...)
	return d.writeRecord(ctx)
}

// RecordRestarted removes containers from the owner record once they run again.
func (d *Dir) RecordRestarted(ctx context.Context) error {
	d.rec.Stopped = nil
	return d.writeRecord(ctx)
}

// Check re-checks the pin.
func (d *Dir) Check(ctx context.Context) error { return d.o.Pin.Check(ctx) }

// WriteFile creates rel (slash-separated, inside the pack; its parents are
// created), streams produce's output into it — re-checking the pin before
// the file is created, every CheckBytes and when it is closed — fsyncs and
// closes it, and returns its size and sha256.
func (d *Dir) WriteFile(ctx context.Context, rel string, wrap func(io.Writer) io.Writer, produce func(w io.Writer) error) (int64, string, error) {
	if err := d.o.Pin.Check(ctx); err != nil {
		return 0, "", err
	}
	p := path.Join(d.rec.Partial, rel)
	if err := d.mkdirAll(path.Dir(rel)); err != nil {
		return 0, "", err
	}
	f, err := d.root.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, d.o.FileMode)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return 0, "", err
	} else if err := d.o.Pin.SameDevice(rel, fi); err != nil {
		return 0, "", err
	}
	var w io.Writer = &guard{ctx: ctx, w: &fsutil.WritebackWriter{F: f}, pin: d.o.Pin, every: d.o.CheckBytes}
	if wrap != nil {
		w = wrap(w)
	}
	hw := fsutil.NewHashWriter(w)
	if err := produce(hw); err != nil {
		return 0, "", err
	}
	if err := f.Sync(); err != nil {
		return 0, "", fmt.Errorf("fsync %s: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return 0, "", err
	}
	if err := d.o.Pin.Check(ctx); err != nil {
		return 0, "", err
	}
	return hw.N(), hw.Sum(), nil
}

// mkdirAll creates rel's directories inside the partial directory.
func (d *Dir) mkdirAll(rel string) error {
	if rel == "." || rel == "" || d.created[rel] {
		return nil
	}
	if err := d.mkdirAll(path.Dir(rel)); err != nil {
		return err
	}
	if err := d.mkdir(path.Join(d.rec.Partial, rel)); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	d.created[rel] = true
	return nil
}

// Commit makes every directory entry durable, re-checks the pin, calls
// before (the daemon records the pack's name on its job), renames the
// partial directory to the pack's name, fsyncs the target and removes the
// owner record.
func (d *Dir) Commit(ctx context.Context, before func(ctx context.Context) error) error {
	for rel := range d.created {
		if err := syncRootDir(d.root, path.Join(d.rec.Partial, rel)); err != nil {
			return err
		}
	}
	if err := d.o.Pin.Check(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if before != nil {
		if err := before(ctx); err != nil {
			return err
		}
	}
	if err := d.root.Rename(d.rec.Partial, d.o.Name); err != nil {
		return fmt.Errorf("rename %s to %s: %w", d.rec.Partial, d.o.Name, err)
	}
	d.done = true
	if err := syncRootDir(d.root, "."); err != nil {
		return err
	}
	if err := d.root.Remove(d.rec.Partial + OwnerSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the owner record of %s: %w", d.o.Name, err)
	}
	return syncRootDir(d.root, ".")
}

// Abort removes the partial directory and the owner record (through the
// pinned handle: after a dropped share, nothing on another filesystem is
// touched). After Commit it does nothing.
func (d *Dir) Abort() error {
	if d.done {
		return nil
	}
	var errs []error
	if err := d.root.RemoveAll(d.rec.Partial); err != nil {
		errs = append(errs, fmt.Errorf("remove partial pack %s: %w", d.Partial(), err))
	}
	if err := d.root.Remove(d.rec.Partial + OwnerSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	d.done = true
	return errors.Join(errs...)
}

// Close releases the directory handle (Abort or Commit first).
func (d *Dir) Close() error { return d.root.Close() }

func syncRootDir(root *os.Root, rel string) error {
	f, err := root.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", rel, err)
	}
	return nil
}

// guard re-checks the mount pin every `every` bytes written.
type guard struct {
	ctx   context.Context
	w     io.Writer
	pin   *mountcheck.Pinned
	every int64
	since int64
}

func (g *guard) Write(p []byte) (int, error) {
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

// IsOwnerRecord reports whether a target entry name is a partial pack's owner record.
func IsOwnerRecord(name string) bool {
	return strings.HasPrefix(name, PartialPrefix) && strings.HasSuffix(name, OwnerSuffix)
}
