package mountcheck

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// OpenRoot opens the pinned directory itself as an *os.Root, through the
// descriptor Pin holds: whatever happens to the path later (the share is
// unmounted, something is mounted over it, a symlink replaces it), every
// file created through the Root lands in the pinned directory — on the
// pinned filesystem, or nowhere. The pinned path must exist in full (Pin a
// directory you created). Close the Root when done; it does not close the pin.
func (p *Pinned) OpenRoot() (*os.Root, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd == nil {
		return nil, fmt.Errorf("open the pinned directory %s: the pin is closed", p.path)
	}
	if p.rep.ExistingPath != p.rep.Path {
		return nil, fmt.Errorf("open the pinned directory %s: only %s exists; create the directory before pinning it", p.path, p.rep.ExistingPath)
	}
	r, err := os.OpenRoot(fmt.Sprintf("/proc/self/fd/%d", p.fd.Fd()))
	if err != nil {
		return nil, fmt.Errorf("open the pinned directory %s: %w", p.path, err)
	}
	fi, err := r.Stat(".")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open the pinned directory %s: %w", p.path, err)
	}
	if err := p.SameDevice(".", fi); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// SameDevice returns an error wrapping ErrMountChanged when fi (of name,
// for the message) is not on the pinned filesystem: a mount point inside
// the target, or a file created after the share was replaced.
func (p *Pinned) SameDevice(name string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot read the device of %s", p.path, name)
	}
	if dev := uint64(st.Dev); dev != p.rep.Device { //nolint:unconvert // Dev is uint32 on some architectures
		return fmt.Errorf("%w: %s: %s is on device %s, not on the pinned filesystem %s (device %s): a mount point inside the target, or the share was replaced; nothing is written there",
			ErrMountChanged, p.path, name, devString(dev), p.rep.MountPoint, devString(p.rep.Device))
	}
	return nil
}

// Watch runs Check every interval until the returned stop is called or ctx
// ends, and calls onFail once with the first error wrapping ErrMountChanged
// (or fs.ErrNotExist). It notices a share that drops while nothing is
// written (an engine staging an image export sends nothing for minutes).
func (p *Pinned) Watch(ctx context.Context, interval time.Duration, onFail func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := p.Check(ctx); err != nil && ctx.Err() == nil {
				onFail(err)
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
