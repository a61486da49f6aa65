package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/docker/docker/api/types/mount"
	units "github.com/docker/go-units"
	"github.com/dockpack/dockpack/internal/tarcheck"
	"go.uber.org/zap"
)

// ExportResult describes a volume export.
type ExportResult struct {
	Bytes        int64 // bytes written to w
	Entries      int   // tar entries, the root "./" included
	ContentBytes int64 // sum of regular file sizes
	// Via is "container <name>" or "helper container from <image>".
	Via string
}

// ExportVolume writes the content of the named volume to w as a tar whose
// entries are relative to the volume's root ("./", "file", "dir/file"),
// keeping modes, numeric owners, symlinks and hard links.
//
// The archive comes from CopyFromContainer on a container of st that mounts
// the volume (any state; one whose other mounts do not nest under the
// volume's destination and that does not mount only a subpath), else on a
// helper container created — never started — from an image of the stack
// (or, for a stack without images, from HelperImage), with the volume at
// HelperMountPoint (NoCopy), labelled dockpack.helper=1, and always removed.
// No image is pulled.
//
// The stream is validated while written: a tar that ends early (the engine
// aborts the archive after its 200 answer when a file shrinks or is
// rewritten during the copy; a file that only grows is cut at the size the
// engine saw, which keeps the tar well-formed but not the data consistent:
// stop the writers) is ErrVolumeExportIncomplete naming the volume; the
// bytes written are then to be discarded. Every failure wraps
// ErrVolumeExportIncomplete.
func (c *Client) ExportVolume(ctx context.Context, st Stack, volumeName string, w io.Writer) (ExportResult, error) {
	if _, err := c.cli.VolumeInspect(ctx, volumeName); err != nil {
		return exportFailed(volumeName, ExportResult{}, "%w", c.engineErr("inspect volume "+volumeName, err, ErrVolumeNotFound))
	}
	if id, name, dest, ok := exportSource(st, volumeName); ok {
		res, err := c.exportFrom(ctx, id, dest, w)
		res.Via = "container " + name
		if err == nil {
			c.log.Debug("volume exported", zap.String("volume", volumeName), zap.String("via", res.Via), zap.Int64("bytes", res.Bytes))
			return res, nil
		}
		var nf *sourceGoneError
		if !errors.As(err, &nf) {
			return exportFailed(volumeName, res, "via %s: %w", res.Via, err)
		}
		c.log.Info("container gone, exporting through a helper container", zap.String("volume", volumeName), zap.String("container", name))
	}
	return c.exportThroughHelper(ctx, st, volumeName, w)
}

// exportFailed is the error of a failed export of volumeName: it wraps
// ErrVolumeExportIncomplete and the formatted cause.
func exportFailed(volumeName string, res ExportResult, format string, args ...any) (ExportResult, error) {
	return res, fmt.Errorf("%w: volume %q: %w", ErrVolumeExportIncomplete, volumeName, fmt.Errorf(format, args...))
}

// exportThroughHelper exports the volume through a helper container from
// the first image of the stack the engine still has, else from an empty
// HelperImage.
func (c *Client) exportThroughHelper(ctx context.Context, st Stack, volumeName string, w io.Writer) (ExportResult, error) {
	id, imgName, removeHelper, err := c.stackImageHelper(ctx, st, volumeName)
	if err != nil {
		return exportFailed(volumeName, ExportResult{Via: "helper container from " + imgName}, "%w", err)
	}
	if id == "" {
		ref, done, err := c.helperImageFor(ctx, "")
		if err != nil {
			return exportFailed(volumeName, ExportResult{}, "the stack has no image to create a helper container from, and the empty helper image failed: %w", err)
		}
		defer done()
		hid, rm, err := c.createHelper(ctx, ref, volumeName, true)
		if err != nil {
			return exportFailed(volumeName, ExportResult{Via: "helper container from " + ref}, "%w", err)
		}
		id, removeHelper, imgName = hid, rm, ref
	}
	defer removeHelper()
	res, err := c.exportFrom(ctx, id, HelperMountPoint, w)
	res.Via = "helper container from " + imgName
	if err != nil {
		return exportFailed(volumeName, res, "via %s: %w", res.Via, err)
	}
	c.log.Debug("volume exported", zap.String("volume", volumeName), zap.String("via", res.Via), zap.Int64("bytes", res.Bytes))
	return res, nil
}

// stackImageHelper creates a read-only helper container for the volume
// from the first image of the stack the engine still has. id is empty when
// there is none; on error, imgName is the image that failed.
func (c *Client) stackImageHelper(ctx context.Context, st Stack, volumeName string) (id, imgName string, remove func(), err error) {
	for _, im := range st.Images {
		if im.ID == "" {
			continue
		}
		hid, rm, err := c.createHelper(ctx, im.ID, volumeName, true)
		if err == nil {
			return hid, im.SaveRef(), rm, nil
		}
		if !errors.Is(err, ErrImageNotFound) {
			return "", im.SaveRef(), nil, err
		}
		c.log.Info("stack image gone, trying another for the helper container", zap.String("image", im.SaveRef()))
	}
	return "", "", nil, nil
}

// exportSource picks a stack container that mounts the whole volume with no
// other mount of the container nested under that destination (a nested
// mount's content would end up in the archive).
func exportSource(st Stack, volumeName string) (id, name, dest string, ok bool) {
	for _, ct := range st.Containers {
		for _, m := range ct.Mounts {
			if m.Type != string(mount.TypeVolume) || m.Name != volumeName || m.Subpath != "" {
				continue
			}
			if !hasNestedMount(ct.Mounts, m.Destination) {
				return ct.ID, ct.Name, m.Destination, true
			}
		}
	}
	return "", "", "", false
}

func hasNestedMount(ms []Mount, dest string) bool {
	d := path.Clean(dest)
	for _, m := range ms {
		md := path.Clean(m.Destination)
		if md == d {
			continue
		}
		if d == "/" || strings.HasPrefix(md, d+"/") {
			return true
		}
	}
	return false
}

// sourceGoneError: the container to export from no longer exists.
type sourceGoneError struct{ err error }

func (e *sourceGoneError) Error() string { return e.err.Error() }

func (e *sourceGoneError) Unwrap() error { return e.err }

// exportFrom streams dir of container id through tarcheck.RebaseTar into w.
func (c *Client) exportFrom(ctx context.Context, id, dir string, w io.Writer) (ExportResult, error) {
	var res ExportResult
	body, stat, err := c.cli.CopyFromContainer(ctx, id, dir)
	if err != nil {
		if isNotFound(err) && ctx.Err() == nil {
			if _, ierr := c.cli.ContainerInspect(ctx, id); ierr != nil && isNotFound(ierr) {
				return res, &sourceGoneError{err}
			}
		}
		return res, c.engineErr("copy "+dir+" from container "+shortID(id), err, nil)
	}
	defer body.Close()
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()
	if !stat.Mode.IsDir() {
		return res, fmt.Errorf("%s in container %s is not a directory (mode %v)", dir, shortID(id), stat.Mode)
	}
	cw := &countWriter{w: w}
	sum, err := tarcheck.RebaseTar(ctx, body, cw)
	res.Bytes, res.Entries, res.ContentBytes = cw.n, sum.Entries, sum.ContentBytes
	switch {
	case cw.err != nil:
		return res, fmt.Errorf("write volume archive after %s: %w", units.HumanSize(float64(cw.n)), cw.err)
	case ctx.Err() != nil:
		return res, fmt.Errorf("stopped after %s: %w", units.HumanSize(float64(cw.n)), ctx.Err())
	case err != nil:
		return res, fmt.Errorf("the archive the engine sent is incomplete after %s (a file shrinking or rewritten during the copy makes the engine abort; stop the containers writing to the volume): %w",
			units.HumanSize(float64(cw.n)), err)
	}
	return res, nil
}
