package mountcheck

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Pinned remembers which filesystem held a path at precheck time (device id
// and mount id) so that a long write can notice the share going away.
//
// A Pinned holds an O_PATH descriptor of the pinned directory. It keeps the
// pinned mount and superblock referenced, so the kernel cannot hand the same
// mount id and device number to a new mount while the pin lives (without it,
// "umount -l" followed by a fresh mount on the same directory can reuse both,
// and the replacement would look identical). It also keeps a lazily
// unmounted share's superblock alive until Close. Call Close when the write
// is done.
type Pinned struct {
	path string // as given to Pin, for messages
	abs  string // made absolute (not cleaned) at Pin time, re-resolved by Check
	rep  Report

	mu sync.Mutex
	fd *os.File // nil after Close
}

// Pin resolves path (its nearest existing ancestor when it does not exist
// yet) and records the filesystem holding it. It applies no policy: call
// Verify first. It is bounded by ctx and DefaultProbeTimeout. Close the
// returned Pinned when done.
func Pin(ctx context.Context, path string) (*Pinned, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pin the mount of %s: %w", path, err)
	}
	abs := path
	if path != "" && !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("pin the mount of %s: make it absolute: %w", path, err)
		}
		abs = wd + "/" + path
	}
	in, err := bounded(ctx, DefaultProbeTimeout, func(st *stage) (inspection, error) {
		return inspect(abs, inspectOpts{root: true, statfs: true, keepFD: true}, st)
	}, inspection.release)
	if err != nil {
		return nil, inspectError(path, err)
	}
	rep := Report{Path: path}
	if _, err := in.fill(&rep); err != nil {
		in.release()
		return nil, err
	}
	return &Pinned{path: path, abs: abs, rep: rep, fd: in.fd}, nil
}

// Report returns what was pinned.
func (p *Pinned) Report() Report { return p.rep }

// Close releases the descriptor that keeps the pinned mount referenced.
// Check still works after Close, but a replacement mount may then reuse the
// pinned ids. Close is idempotent.
func (p *Pinned) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd == nil {
		return nil
	}
	err := p.fd.Close()
	p.fd = nil
	return err
}

// Check resolves the pinned path again and returns an error wrapping
// ErrMountChanged when it no longer resolves to the pinned filesystem: the
// pinned mount is gone from the mount table (unmounted, also lazily), the
// device id differs (replaced or mounted over), the mount id differs (bind
// mounted over) or the mount became read-only. It costs a few lstat calls,
// one stat and one read of /proc/self/mountinfo, and is bounded by ctx and
// DefaultProbeTimeout. If the filesystem is unchanged but a directory on the
// way was removed, the error wraps fs.ErrNotExist instead.
func (p *Pinned) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check the mount of %s: %w", p.path, err)
	}
	in, err := bounded(ctx, DefaultProbeTimeout, func(st *stage) (inspection, error) {
		return inspect(p.abs, inspectOpts{}, st)
	}, nil)
	if err != nil {
		return inspectError(p.path, err)
	}
	var now Report
	m, err := in.fill(&now)
	if err != nil {
		return err
	}
	was := fmt.Sprintf("mount %s (%s from %s, mount id %d, device %s)", p.rep.MountPoint, p.rep.FSType, p.rep.Source, p.rep.MountID, p.rep.MajorMinor)
	isNow := fmt.Sprintf("mount %s (%s from %s, mount id %d, device %s)", m.Mountpoint, m.FSType, m.Source, now.MountID, now.MajorMinor)
	still := false
	for _, mi := range in.mounts {
		if mi.ID == p.rep.MountID && fmt.Sprintf("%d:%d", mi.Major, mi.Minor) == p.rep.MajorMinor {
			still = true
			break
		}
	}
	switch {
	case !still:
		return fmt.Errorf("%w: %s: the filesystem pinned at precheck, %s, is no longer mounted; the path now resolves to %s: the share was unmounted or dropped while in use; mount it again and run the operation again",
			ErrMountChanged, p.path, was, isNow)
	case now.Device != p.rep.Device:
		return fmt.Errorf("%w: %s: the device changed from %s to %s: the path now resolves to %s instead of %s; the share was replaced or mounted over while in use; check the mounts and run the operation again",
			ErrMountChanged, p.path, devString(p.rep.Device), devString(now.Device), isNow, was)
	case now.MountID != p.rep.MountID:
		return fmt.Errorf("%w: %s: the mount id changed from %d to %d: the path now resolves to %s instead of %s; something was mounted over the share while in use; check the mounts and run the operation again",
			ErrMountChanged, p.path, p.rep.MountID, now.MountID, isNow, was)
	case now.ReadOnly && !p.rep.ReadOnly:
		return fmt.Errorf("%w: %s: %s was remounted read-only (options %s) while in use: remount it read-write (mount -o remount,rw %s) and run the operation again",
			ErrMountChanged, p.path, was, now.Options, now.MountPoint)
	case now.ExistingPath != p.rep.ExistingPath && hasPathPrefix(p.rep.ExistingPath, now.ExistingPath):
		return fmt.Errorf("%s: %s no longer exists although its filesystem, %s, is still mounted: %w",
			p.path, p.rep.ExistingPath, was, fs.ErrNotExist)
	}
	return nil
}

func devString(dev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
}
