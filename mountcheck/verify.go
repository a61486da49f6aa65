package mountcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Report is what Verify found. Verify fills it as far as it got, also when it
// returns an error.
type Report struct {
	Path         string // absolute, symlinks resolved (may not exist yet)
	ExistingPath string // nearest existing ancestor of Path (or Path itself): what was inspected and probed
	MountPoint   string // mount point of the mount holding ExistingPath
	FSType       string // e.g. "cifs", "smb3", "nfs4", "tmpfs"
	Source       string // e.g. "//nas/backup share" (unescaped)
	// Options are the per-mount options, a space, then the superblock
	// options, as in mountinfo: "rw,relatime rw,vers=3.1.1,...".
	Options       string
	ReadOnly      bool   // "ro" in the mount options, or EROFS from the probe
	Device        uint64 // st_dev of ExistingPath
	MajorMinor    string // the mount's "major:minor" from mountinfo, e.g. "0:52"
	MountID       int    // the mount's id from mountinfo
	OnRootFS      bool   // Device equals st_dev of "/"
	FreeBytes     uint64 // available to unprivileged writers: statfs f_bavail × f_frsize (f_bsize when f_frsize is 0)
	TotalBytes    uint64 // statfs f_blocks × the same block size
	ProbeDuration time.Duration
	// ProbeMode is the effective permission of the probe file, created
	// 0600 (0: not probed, or not known). On CIFS the mount options
	// (file_mode) decide it and chmod is ignored: a world-readable probe
	// means the pack's files are world-readable too.
	ProbeMode os.FileMode
}

// Verify checks that path is on a mount that satisfies p and returns what it
// found. The checks run in this order and the first failure is returned,
// wrapping its sentinel: resolve the path and find its mount (ErrProbe,
// ErrProbeTimeout), root filesystem and expected mount point (ErrNotMounted),
// filesystem type (ErrFSType), read-only (ErrReadOnly), free space
// (ErrInsufficientSpace), write probe (ErrProbe, ErrReadOnly,
// ErrInsufficientSpace, ErrProbeTimeout). An invalid policy returns ErrPolicy.
//
// Each file-system call on the target is bounded by p.ProbeTimeout and ctx
// (see the package documentation for the goroutine a hung call leaves behind).
// The Report is filled as far as Verify got, also on error.
func Verify(ctx context.Context, path string, p Policy) (Report, error) {
	rep := Report{Path: path}
	if err := p.Validate(); err != nil {
		return rep, err
	}
	p.applyDefaults()
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("verify the mount of %s: %w", path, err)
	}

	in, err := bounded(ctx, p.ProbeTimeout, func(st *stage) (inspection, error) {
		return inspect(path, inspectOpts{root: true, statfs: true, expected: p.ExpectedMountPoint}, st)
	}, nil)
	if err != nil {
		return rep, inspectError(path, err)
	}
	m, err := in.fill(&rep)
	if err != nil {
		return rep, err
	}

	// Root filesystem, by device id.
	if rep.OnRootFS && !p.AllowRootFS {
		return rep, rootFSError(rep, m, in.mounts, p)
	}

	// Expected mount point.
	if p.ExpectedMountPoint != "" {
		if err := expectedMountError(rep, m, in); err != nil {
			return rep, err
		}
	}

	// Filesystem type.
	if !p.allowsFSType(rep.FSType) {
		return rep, fmt.Errorf("%w: %s is on a %s filesystem, %s, expected %s: mount the share there, or allow %s in the mount policy (--fstype) if this filesystem is intended",
			ErrFSType, rep.Path, rep.FSType, describeMount(m), fsTypesText(p), rep.FSType)
	}

	// Read-only mount.
	if rep.ReadOnly {
		return rep, fmt.Errorf("%w: %s is on a read-only mount, %s with options %s: remount it read-write (mount -o remount,rw %s) or fix the share's export",
			ErrReadOnly, rep.Path, describeMount(m), rep.Options, rep.MountPoint)
	}

	// Free space.
	if in.statfsErr != nil {
		return rep, fmt.Errorf("%w: reading the free space of %s on %s failed: %w: the share may be disconnected; check it with df %s",
			ErrProbe, rep.ExistingPath, describeMount(m), in.statfsErr, rep.MountPoint)
	}
	if p.MinFreeBytes > 0 && rep.FreeBytes < p.MinFreeBytes {
		return rep, fmt.Errorf("%w: %s has %s free (%d bytes, of %s) on %s, need at least %s (%d bytes): free up space there or choose another target",
			ErrInsufficientSpace, rep.Path, human(rep.FreeBytes), rep.FreeBytes, human(rep.TotalBytes), describeMount(m), human(p.MinFreeBytes), p.MinFreeBytes)
	}

	// Write probe.
	if p.SkipProbe {
		return rep, nil
	}
	if !in.isDir {
		return rep, fmt.Errorf("%w: %s exists but is not a directory: the target must be a directory",
			ErrProbe, rep.ExistingPath)
	}
	return rep, runProbe(ctx, &rep, m, p)
}

// FreeSpace returns the space available to unprivileged writers and the total
// size of the filesystem holding path (its nearest existing ancestor when path
// does not exist yet). It is bounded by ctx and DefaultProbeTimeout.
func FreeSpace(ctx context.Context, path string) (free, total uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", path, err)
	}
	in, err := bounded(ctx, DefaultProbeTimeout, func(st *stage) (inspection, error) {
		return inspect(path, inspectOpts{statfs: true, noMounts: true}, st)
	}, nil)
	if err != nil {
		return 0, 0, inspectError(path, err)
	}
	if in.statfsErr != nil {
		return 0, 0, fmt.Errorf("%w: reading the free space of %s failed: %w: check the filesystem with df %s",
			ErrProbe, in.existing, in.statfsErr, in.existing)
	}
	return in.free, in.total, nil
}

// inspection is everything Verify, Pin and Check learn from the file system
// in one bounded call.
type inspection struct {
	full, existing string
	dev            uint64
	isDir          bool
	rootDev        uint64
	free, total    uint64
	statfsErr      error
	mounts         []*mountinfo.Info
	expected       string // resolved expected mount point
	expectedExists bool
	fd             *os.File // O_PATH descriptor of existing, with inspectOpts.keepFD
}

// release closes what the inspection holds.
func (in inspection) release() {
	if in.fd != nil {
		in.fd.Close()
	}
}

type inspectOpts struct {
	root     bool   // stat "/"
	statfs   bool   // statfs the existing path
	noMounts bool   // skip reading the mount table
	expected string // also resolve this expected mount point
	keepFD   bool   // open existing with O_PATH and keep the descriptor
}

func inspect(path string, o inspectOpts, st *stage) (in inspection, err error) {
	defer func() {
		if err != nil {
			in.release()
			in.fd = nil
		}
	}()
	st.set("resolving " + path)
	if in.full, in.existing, err = resolvePath(path); err != nil {
		return in, err
	}
	var s unix.Stat_t
	if o.keepFD {
		st.set("open " + in.existing)
		fd, err := unix.Open(in.existing, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return in, &os.PathError{Op: "open", Path: in.existing, Err: err}
		}
		in.fd = os.NewFile(uintptr(fd), in.existing)
		st.set("fstat " + in.existing)
		if err := unix.Fstat(fd, &s); err != nil {
			return in, &os.PathError{Op: "fstat", Path: in.existing, Err: err}
		}
	} else {
		st.set("stat " + in.existing)
		if err := unix.Stat(in.existing, &s); err != nil {
			return in, &os.PathError{Op: "stat", Path: in.existing, Err: err}
		}
	}
	in.dev = uint64(s.Dev) //nolint:unconvert // Dev is uint32 on some architectures
	in.isDir = s.Mode&unix.S_IFMT == unix.S_IFDIR
	if o.root {
		st.set("stat /")
		if err := unix.Stat("/", &s); err != nil {
			return in, &os.PathError{Op: "stat", Path: "/", Err: err}
		}
		in.rootDev = uint64(s.Dev) //nolint:unconvert
	}
	if o.statfs {
		st.set("statfs " + in.existing)
		var fs unix.Statfs_t
		if err := unix.Statfs(in.existing, &fs); err != nil {
			in.statfsErr = &os.PathError{Op: "statfs", Path: in.existing, Err: err}
		} else {
			bsize := uint64(fs.Frsize) //nolint:unconvert
			if bsize == 0 {
				bsize = uint64(fs.Bsize) //nolint:unconvert
			}
			in.free = fs.Bavail * bsize
			in.total = fs.Blocks * bsize
		}
	}
	if o.expected != "" {
		st.set("resolving the expected mount point " + o.expected)
		full, existing, err := resolvePath(o.expected)
		if err != nil {
			return in, err
		}
		in.expected, in.expectedExists = full, full == existing
	}
	if !o.noMounts {
		st.set("reading " + mountinfoPath)
		if in.mounts, err = readMounts(); err != nil {
			return in, err
		}
	}
	return in, nil
}

// fill copies the inspection into rep and returns the mount holding the path.
func (in *inspection) fill(rep *Report) (*mountinfo.Info, error) {
	rep.Path, rep.ExistingPath = in.full, in.existing
	rep.Device = in.dev
	rep.OnRootFS = in.dev == in.rootDev
	rep.FreeBytes, rep.TotalBytes = in.free, in.total
	m, err := holdingMount(in.mounts, in.existing, in.dev)
	if err != nil {
		return nil, err
	}
	rep.MountPoint = m.Mountpoint
	rep.FSType = m.FSType
	rep.Source = m.Source
	rep.Options = m.Options + " " + m.VFSOptions
	rep.ReadOnly = mountReadOnly(m)
	rep.MajorMinor = fmt.Sprintf("%d:%d", m.Major, m.Minor)
	rep.MountID = m.ID
	return m, nil
}

// holdingMount is Lookup, cross-checked with the path's st_dev: if the
// longest-prefix mount is of another device (it is hidden under a later mount
// on one of its parents), the longest-prefix mount of the path's own device
// wins. Filesystems whose st_dev differs from mountinfo's (btrfs subvolumes)
// keep the plain Lookup answer.
func holdingMount(mounts []*mountinfo.Info, existing string, dev uint64) (*mountinfo.Info, error) {
	m, err := Lookup(mounts, existing)
	if err != nil {
		return nil, err
	}
	major, minor := int(unix.Major(dev)), int(unix.Minor(dev))
	if m.Major != major || m.Minor != minor {
		if alt := lookupByDevice(mounts, existing, major, minor); alt != nil {
			m = alt
		}
	}
	return m, nil
}

func inspectError(path string, err error) error {
	var to *errTimedOut
	switch {
	case errors.As(err, &to):
		return fmt.Errorf("%w: inspecting %s %s: the filesystem is not responding, probably a hung network share; check the server and the network, or detach the share (umount -l <its mount point>) and mount it again",
			ErrProbeTimeout, path, to)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("inspecting the mount of %s: %w", path, err)
	case errors.Is(err, ErrNotMounted):
		return err
	}
	return fmt.Errorf("%w: cannot inspect %s: %w: check that the path is reachable from where dockpack runs",
		ErrProbe, path, err)
}

func rootFSError(rep Report, m *mountinfo.Info, mounts []*mountinfo.Info, p Policy) error {
	rootDesc := "/"
	if root, err := Lookup(mounts, "/"); err == nil {
		rootDesc = root.Source + ", " + root.FSType
	}
	via := ""
	if filepath.Clean(m.Mountpoint) != "/" {
		via = fmt.Sprintf(" through the bind mount on %s", m.Mountpoint)
	}
	hint := "mount the share that should hold it (naming its mount point as the expected mount, --expect-mount, makes this check exact)"
	if p.ExpectedMountPoint != "" {
		hint = fmt.Sprintf("mount it (mount %s)", filepath.Clean(p.ExpectedMountPoint))
	}
	return fmt.Errorf("%w: %s is on the root filesystem (%s)%s, not on a mounted share: the share is probably not mounted; %s or allow the root filesystem (--allow-root-fs)",
		ErrNotMounted, rep.Path, rootDesc, via, hint)
}

func expectedMountError(rep Report, m *mountinfo.Info, in inspection) error {
	exp := in.expected
	switch {
	case !in.expectedExists:
		return fmt.Errorf("%w: the expected mount point %s does not exist, so nothing is mounted there (%s is held by %s): create it, mount the share on it (mount %s) and try again",
			ErrNotMounted, exp, rep.Path, describeMount(m), exp)
	case !hasPathPrefix(rep.Path, exp):
		return fmt.Errorf("%w: %s is not below the expected mount point %s; it is held by %s: put the target inside %s or correct the expected mount point",
			ErrNotMounted, rep.Path, exp, describeMount(m), exp)
	case filepath.Clean(m.Mountpoint) != exp && hasPathPrefix(filepath.Clean(m.Mountpoint), exp):
		return fmt.Errorf("%w: %s is held by %s, which is nested below the expected mount %s: put the target outside that nested mount or expect %s instead",
			ErrNotMounted, rep.Path, describeMount(m), exp, m.Mountpoint)
	case filepath.Clean(m.Mountpoint) != exp:
		return fmt.Errorf("%w: %s is held by %s, expected mount %s: nothing is mounted on %s; mount the share (mount %s) and try again",
			ErrNotMounted, rep.Path, describeMount(m), exp, exp, exp)
	}
	return nil
}

func fsTypesText(p Policy) string {
	if p.AnyFSType {
		return "any"
	}
	s := ""
	for i, t := range p.FSTypes {
		if i > 0 {
			s += "|"
		}
		s += t
	}
	return s
}

func human(n uint64) string { return units.BytesSize(float64(n)) }

// isNoSpace reports errors meaning "the filesystem or quota is full".
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
