package mountcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// ProbePrefix starts the name of every probe file; a file carrying it is a
// leftover of an interrupted probe and may be deleted.
const ProbePrefix = ".dockpack-probe-"

// probeSize is how many random bytes the probe writes and reads back.
const probeSize = 4096

// FileOps are the file operations the write probe uses. The real OS is
// OSFileOps; tests inject implementations that fail or block. The ctx passed
// in is canceled when Verify gives up on the probe (timeout or its own ctx),
// so a blocking fake can unblock; the real OS calls cannot be interrupted and
// ignore it.
type FileOps interface {
	// Create creates name exclusively (it must not exist yet) for writing,
	// with mode 0600.
	Create(ctx context.Context, name string) (ProbeFile, error)
	// ReadFile returns the whole content of name.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// Remove removes name.
	Remove(ctx context.Context, name string) error
}

// ProbeFile is a file opened by FileOps.Create.
type ProbeFile interface {
	io.Writer
	Sync() error
	Close() error
}

// OSFileOps is FileOps on the real file system.
type OSFileOps struct{}

// Create implements FileOps with O_WRONLY|O_CREATE|O_EXCL.
func (OSFileOps) Create(_ context.Context, name string) (ProbeFile, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// ReadFile implements FileOps with os.ReadFile.
func (OSFileOps) ReadFile(_ context.Context, name string) ([]byte, error) { return os.ReadFile(name) }

// Remove implements FileOps with os.Remove.
func (OSFileOps) Remove(_ context.Context, name string) error { return os.Remove(name) }

// runProbe runs the write probe in rep.ExistingPath, bounded by p.ProbeTimeout
// and ctx, sets rep.ProbeDuration (and rep.ReadOnly on EROFS) and maps the
// outcome to the package's sentinels.
func runProbe(ctx context.Context, rep *Report, m *mountinfo.Info, p Policy) error {
	dir := rep.ExistingPath
	probeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	mode, err := bounded(ctx, p.ProbeTimeout, func(st *stage) (os.FileMode, error) {
		return writeProbe(probeCtx, p.FileOps, dir, st)
	}, nil)
	rep.ProbeDuration = time.Since(start)
	if err == nil {
		rep.ProbeMode = mode
		return nil
	}
	var to *errTimedOut
	var pe *probeError
	switch {
	case errors.As(err, &to):
		return fmt.Errorf("%w: the write probe in %s %s: %s is not responding; check the server and the network, or detach and remount it (umount -l %s; mount %s)",
			ErrProbeTimeout, dir, to, describeMount(m), m.Mountpoint, m.Mountpoint)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the write probe in %s: %w", dir, err)
	case !errors.As(err, &pe):
		return fmt.Errorf("%w: the write probe in %s: %w", ErrProbe, dir, err)
	case errors.Is(err, syscall.EROFS):
		rep.ReadOnly = true
		return fmt.Errorf("%w: %s is read-only: the write probe failed at %s (%w) although the mount options (%s) say rw: the server or share exports it read-only; fix the share's permissions or remount it read-write",
			ErrReadOnly, dir, pe.step, pe.err, rep.Options)
	case isNoSpace(err):
		return fmt.Errorf("%w: %s is full: the write probe of %s failed at %s (%w); %s free of %s on %s: free up space there or choose another target",
			ErrInsufficientSpace, dir, human(probeSize), pe.step, pe.err, human(rep.FreeBytes), human(rep.TotalBytes), describeMount(m))
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: the write probe in %s failed at %s: %w: this process (uid %d) may not write there; check the share's uid/gid/file_mode/dir_mode mount options and the server's permissions",
			ErrProbe, dir, pe.step, pe.err, os.Geteuid())
	}
	return fmt.Errorf("%w: the write probe in %s failed at %s: %w: the share is mounted (%s) but not usable for writing; check the server, the network and the mount options",
		ErrProbe, dir, pe.step, pe.err, describeMount(m))
}

// probeError says which step of the probe failed.
type probeError struct {
	step string
	err  error
}

func (e *probeError) Error() string { return e.step + ": " + e.err.Error() }
func (e *probeError) Unwrap() error { return e.err }

// writeProbe creates a uniquely named file in dir, writes probeSize random
// bytes, fsyncs, notes its effective mode, closes, reads them back,
// compares and removes the file. The file is removed on every path that
// created it, also when it finishes after Verify gave up on it. The mode is
// 0 when the file cannot tell it (a FileOps whose files have no Stat).
func writeProbe(ctx context.Context, ops FileOps, dir string, st *stage) (mode os.FileMode, err error) {
	err = writeProbeFile(ctx, ops, dir, st, &mode)
	return mode, err
}

// writeProbeFile is writeProbe; the effective mode goes to *mode.
func writeProbeFile(ctx context.Context, ops FileOps, dir string, st *stage, mode *os.FileMode) (err error) {
	var rnd [8]byte
	data := make([]byte, probeSize)
	if _, err := rand.Read(rnd[:]); err != nil {
		return &probeError{"generating a probe name", err}
	}
	if _, err := rand.Read(data); err != nil {
		return &probeError{"generating probe data", err}
	}
	name := filepath.Join(dir, ProbePrefix+hex.EncodeToString(rnd[:]))

	st.set("create " + name)
	f, err := ops.Create(ctx, name)
	if err != nil {
		return &probeError{"create " + name, err}
	}
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
		if err != nil {
			st.set("remove " + name)
			ops.Remove(ctx, name) // best effort; the primary error wins
		}
	}()

	st.set("write " + name)
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return &probeError{"write " + name, err}
	}
	st.set("fsync " + name)
	if err := f.Sync(); err != nil {
		return &probeError{"fsync " + name, err}
	}
	if sf, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		st.set("stat " + name)
		if fi, err := sf.Stat(); err == nil {
			*mode = fi.Mode().Perm()
		}
	}
	st.set("close " + name)
	closed = true
	if err := f.Close(); err != nil {
		return &probeError{"close " + name, err}
	}
	st.set("read back " + name)
	got, err := ops.ReadFile(ctx, name)
	if err != nil {
		return &probeError{"read back " + name, err}
	}
	if !bytes.Equal(got, data) {
		return &probeError{"compare " + name, fmt.Errorf("read back %d bytes that differ from the %d bytes written", len(got), len(data))}
	}
	st.set("remove " + name)
	if err := ops.Remove(ctx, name); err != nil {
		return &probeError{"remove " + name, err}
	}
	return nil
}
