package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/api/types/container"
	"github.com/dockpack/dockpack/internal/tarcheck"
	"go.uber.org/zap"
)

// ImportVolume extracts the tar r (entries relative to the volume root, as
// ExportVolume writes them) into the volume, through a helper container
// created — never started — from helperImage (empty: a HelperImage is
// imported and removed afterwards). Modes, numeric owners, symlinks, hard
// links and empty directories are kept. The stream is validated on its way
// to the engine: a truncated tar aborts the upload and is ErrVolumeImport;
// whatever the engine extracted before is then left in the volume, so import
// into a fresh volume and remove it on failure.
func (c *Client) ImportVolume(ctx context.Context, name, helperImage string, r io.Reader) error {
	fail := func(err error) error { return fmt.Errorf("%w: volume %q: %w", ErrVolumeImport, name, err) }
	if _, err := c.cli.VolumeInspect(ctx, name); err != nil {
		return fail(c.engineErr("inspect volume "+name, err, ErrVolumeNotFound))
	}
	img, done, err := c.helperImageFor(ctx, helperImage)
	if err != nil {
		return fail(err)
	}
	defer done()
	id, remove, err := c.createHelper(ctx, img, name, false)
	if err != nil {
		return fail(err)
	}
	defer remove()
	src := &sourceReader{r: r}
	vr := newValidatingReader(ctx, src)
	defer vr.Close()
	err = c.cli.CopyToContainer(ctx, id, HelperMountPoint, vr, container.CopyToContainerOptions{})
	if serr := src.failure(); serr != nil {
		// The SDK reports a failed request body as a connection failure:
		// name the real cause, the archive that could not be read.
		return fail(fmt.Errorf("reading the archive failed, the upload was aborted (discard the volume): %w", serr))
	}
	if verr := vr.verdict(); verr != nil {
		return fail(fmt.Errorf("the archive is not a complete tar, the engine was stopped mid-way (discard the volume): %w", verr))
	}
	if err != nil {
		return fail(c.engineErr("extract into volume "+name, err, nil))
	}
	c.log.Debug("volume imported", zap.String("volume", name), zap.Int64("bytes", vr.n.Load()))
	return nil
}

// validatingReader passes r through while tarcheck.ValidateTar checks it in
// a goroutine; at r's end it returns the validator's verdict instead of
// io.EOF when the tar is incomplete, so the upload is aborted rather than
// committed. The HTTP transport may call Read and Close from its own
// goroutine, so the shared state is atomic.
type validatingReader struct {
	r       io.Reader
	pw      *io.PipeWriter
	done    chan struct{}
	err     error // validator verdict, set before done is closed
	n       atomic.Int64
	checked atomic.Bool // the validator saw the whole input, or failed on a prefix
}

func newValidatingReader(ctx context.Context, r io.Reader) *validatingReader {
	pr, pw := io.Pipe()
	v := &validatingReader{r: r, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		_, err := tarcheck.ValidateTar(ctx, pr)
		if err != nil {
			v.err = err
			pr.CloseWithError(err) // unblocks Read's writes with the verdict
			return
		}
		_, _ = io.Copy(io.Discard, pr) // ValidateTar drains to EOF; just in case
	}()
	return v
}

func (v *validatingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if n > 0 {
		v.n.Add(int64(n))
		if _, werr := v.pw.Write(p[:n]); werr != nil {
			v.checked.Store(true) // the validator rejected a prefix
			return 0, werr
		}
	}
	if errors.Is(err, io.EOF) {
		v.pw.Close()
		<-v.done
		v.checked.Store(true)
		if v.err != nil {
			return n, v.err
		}
	} else if err != nil {
		v.pw.CloseWithError(err)
	}
	return n, err
}

// verdict stops the validator and returns its error when it judged the
// input (whole, or a rejected prefix); an upload that ended before the
// input's end for another reason (the engine refused) is not its business.
func (v *validatingReader) verdict() error {
	v.pw.CloseWithError(io.ErrUnexpectedEOF) // no-op when already closed
	<-v.done
	if v.checked.Load() {
		return v.err
	}
	return nil
}

func (v *validatingReader) Close() error {
	v.pw.CloseWithError(io.ErrClosedPipe)
	return nil
}

// sourceReader remembers the first error (other than io.EOF) its reader
// returned, so that a failed upload is blamed on its source rather than on
// the connection to the engine.
type sourceReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *sourceReader) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
