// Package mountcheck answers one question before dockpack writes a single
// byte: is this path really on the network share we expect, and is that share
// usable? It exists because a backup once "succeeded" into /mnt/replica while
// the CIFS share was not mounted, filling the root partition instead.
//
// Verify resolves the path (symlinks, "..", a path that does not exist yet is
// judged by its nearest existing ancestor), finds the mount that holds it in
// /proc/self/mountinfo (longest mount-point prefix; nested, bind and stacked
// mounts; escaped characters such as \040), and then checks, in this order:
//
//  1. root filesystem: the path must not be on the root filesystem, judged by
//     device id (st_dev), so a bind mount of a root-fs directory counts as
//     root (ErrNotMounted unless Policy.AllowRootFS);
//  2. expected mount point: when Policy.ExpectedMountPoint is set, the mount
//     holding the path must be exactly that one; this is how a mount-point
//     directory with nothing mounted on it is recognised (ErrNotMounted);
//  3. filesystem type: cifs or smb3 by default (ErrFSType);
//  4. read-only mount options (ErrReadOnly);
//  5. free space against Policy.MinFreeBytes (ErrInsufficientSpace);
//  6. a write probe: a uniquely named file is created, written, fsynced, read
//     back, compared and removed (ErrProbe, ErrReadOnly on EROFS,
//     ErrInsufficientSpace on ENOSPC).
//
// Every file-system call that touches the target runs in a goroutine bounded
// by Policy.ProbeTimeout and by ctx, so a hung share yields ErrProbeTimeout
// instead of hanging the caller. A call stuck in the kernel cannot be
// interrupted: its goroutine stays blocked until the kernel returns (and then
// removes its probe file). That leak is accepted and bounded by the number of
// Verify calls made against a hung share.
//
// Pin records the filesystem (device id and mount id) holding a path at
// precheck time; Pinned.Check, cheap enough to call every few hundred MiB
// while a backup writes, returns ErrMountChanged once the path resolves to a
// different filesystem: the share was unmounted (also lazily), replaced,
// over-mounted or remounted read-only. A Pinned holds an O_PATH descriptor of
// the pinned directory so the kernel cannot give the pinned mount id and
// device number to a replacement mount; Close it when the write is done.
//
// All errors wrap one of the package's sentinels (use errors.Is) and their
// messages name the path, what was found, what was expected and what to do.
//
// The package is Linux-only: it reads /proc/self/mountinfo.
package mountcheck
