package mountcheck

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (plus, where there is one, the underlying OS error), so callers test
// with errors.Is and show err.Error() to the user.
var (
	// ErrNotMounted: the path is on the root filesystem (and Policy.AllowRootFS
	// is false), or it is not held by Policy.ExpectedMountPoint.
	ErrNotMounted = errors.New("not mounted")
	// ErrFSType: the filesystem holding the path is not an allowed type.
	ErrFSType = errors.New("filesystem type not allowed")
	// ErrReadOnly: the mount is read-only (mount options, or EROFS on the probe).
	ErrReadOnly = errors.New("read-only filesystem")
	// ErrProbe: the write probe failed, or the path could not be inspected at
	// all (resolving it, stat, statfs, reading the mount table).
	ErrProbe = errors.New("write probe failed")
	// ErrProbeTimeout: a file-system call on the target did not finish within
	// the probe timeout; the share is probably hung.
	ErrProbeTimeout = errors.New("file system not responding")
	// ErrInsufficientSpace: less free space than Policy.MinFreeBytes, or
	// ENOSPC/EDQUOT during the probe.
	ErrInsufficientSpace = errors.New("insufficient free space")
	// ErrMountChanged: a pinned path no longer resolves to the filesystem it
	// resolved to at Pin time.
	ErrMountChanged = errors.New("mount changed")
	// ErrPolicy: Policy.Validate found an invalid field.
	ErrPolicy = errors.New("invalid mount policy")
)
