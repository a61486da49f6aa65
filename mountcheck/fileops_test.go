package mountcheck_test

import (
	"context"
	"sync"

	"github.com/dockpack/dockpack/mountcheck"
)

// faultOps is a FileOps over the real OS that fails or blocks at one step of
// the probe: "create", "write", "sync", "read" or "remove".
type faultOps struct {
	mountcheck.OSFileOps
	failAt  string
	err     error
	corrupt bool // flip a byte of what ReadFile returns

	blockAt string
	entered chan struct{} // closed when the blocking step is entered
	release chan struct{} // closing it unblocks the step
	once    sync.Once
}

func newBlockingOps(step string) *faultOps {
	return &faultOps{blockAt: step, entered: make(chan struct{}), release: make(chan struct{})}
}

// step fails or blocks as configured. A blocked step returns when released
// or when the probe's ctx is canceled (Verify gave up on it).
func (o *faultOps) step(ctx context.Context, name string) error {
	if o.blockAt == name {
		o.once.Do(func() { close(o.entered) })
		select {
		case <-o.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if o.failAt == name {
		return o.err
	}
	return nil
}

func (o *faultOps) Create(ctx context.Context, name string) (mountcheck.ProbeFile, error) {
	if err := o.step(ctx, "create"); err != nil {
		return nil, err
	}
	f, err := o.OSFileOps.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &faultFile{ProbeFile: f, ops: o, ctx: ctx}, nil
}

func (o *faultOps) ReadFile(ctx context.Context, name string) ([]byte, error) {
	if err := o.step(ctx, "read"); err != nil {
		return nil, err
	}
	b, err := o.OSFileOps.ReadFile(ctx, name)
	if o.corrupt && len(b) > 0 {
		b[len(b)/2] ^= 0xff
	}
	return b, err
}

func (o *faultOps) Remove(ctx context.Context, name string) error {
	rmErr := o.OSFileOps.Remove(ctx, name) // never leave the file behind
	if err := o.step(ctx, "remove"); err != nil {
		return err
	}
	return rmErr
}

type faultFile struct {
	mountcheck.ProbeFile
	ops *faultOps
	ctx context.Context
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.ops.step(f.ctx, "write"); err != nil {
		return 0, err
	}
	return f.ProbeFile.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.ops.step(f.ctx, "sync"); err != nil {
		return err
	}
	return f.ProbeFile.Sync()
}
