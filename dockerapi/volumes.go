package dockerapi

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	units "github.com/docker/go-units"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

// HelperMountPoint is where helper containers mount the volume they serve.
const HelperMountPoint = "/dockpack-volume"

// helperEntrypoint is never executed: helper containers are never started.
const helperEntrypoint = "/dockpack-helper-never-started"

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
	fail := func(res ExportResult, format string, args ...any) (ExportResult, error) {
		return res, fmt.Errorf("%w: volume %q: %w", ErrVolumeExportIncomplete, volumeName, fmt.Errorf(format, args...))
	}
	if _, err := c.cli.VolumeInspect(ctx, volumeName); err != nil {
		return fail(ExportResult{}, "%w", c.engineErr("inspect volume "+volumeName, err, ErrVolumeNotFound))
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
			return fail(res, "via %s: %w", res.Via, err)
		}
		c.log.Info("container gone, exporting through a helper container", zap.String("volume", volumeName), zap.String("container", name))
	}

	// a helper from the first image of the stack the engine still has
	var (
		id           string
		removeHelper func()
		imgName      string
	)
	for _, im := range st.Images {
		if im.ID == "" {
			continue
		}
		hid, rm, err := c.createHelper(ctx, im.ID, volumeName, true)
		if err == nil {
			id, removeHelper, imgName = hid, rm, im.SaveRef()
			break
		}
		if !errors.Is(err, ErrImageNotFound) {
			return fail(ExportResult{Via: "helper container from " + im.SaveRef()}, "%w", err)
		}
		c.log.Info("stack image gone, trying another for the helper container", zap.String("image", im.SaveRef()))
	}
	if id == "" {
		ref, remove, err := c.HelperImage(ctx)
		if err != nil {
			return fail(ExportResult{}, "the stack has no image to create a helper container from, and the empty helper image failed: %w", err)
		}
		defer func() {
			if err := remove(); err != nil {
				c.log.Warn("helper image not removed", zap.String("image", ref), zap.Error(err))
			}
		}()
		hid, rm, err := c.createHelper(ctx, ref, volumeName, true)
		if err != nil {
			return fail(ExportResult{Via: "helper container from " + ref}, "%w", err)
		}
		id, removeHelper, imgName = hid, rm, ref
	}
	defer removeHelper()
	res, err := c.exportFrom(ctx, id, HelperMountPoint, w)
	res.Via = "helper container from " + imgName
	if err != nil {
		return fail(res, "via %s: %w", res.Via, err)
	}
	c.log.Debug("volume exported", zap.String("volume", volumeName), zap.String("via", res.Via), zap.Int64("bytes", res.Bytes))
	return res, nil
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

// createHelper creates (never starts) a helper container from imageRef with
// the volume at HelperMountPoint (NoCopy), labelled with LabelHelper and its
// owner. remove is idempotent and uses a fresh context. The create itself
// runs on a fresh (bounded) context: when ctx is canceled while the engine
// creates the container, the engine's answer is awaited and what it created
// is removed by ID, so a cancel never leaks a helper.
func (c *Client) createHelper(ctx context.Context, imageRef, volumeName string, readOnly bool) (id string, remove func(), err error) {
	name := "dockpack-helper-" + c.opts.Owner.Tag() + "-" + randomHex(6)
	labels := c.opts.Owner.Labels()
	labels[LabelHelper], labels[LabelHelperVolume] = "1", volumeName
	cfg := &container.Config{
		Image:           imageRef,
		Entrypoint:      []string{helperEntrypoint},
		Cmd:             []string{},
		Labels:          labels,
		NetworkDisabled: true,
		WorkingDir:      "/",
	}
	hc := &container.HostConfig{
		NetworkMode: "none",
		Mounts: []mount.Mount{{
			Type:          mount.TypeVolume,
			Source:        volumeName,
			Target:        HelperMountPoint,
			ReadOnly:      readOnly,
			VolumeOptions: &mount.VolumeOptions{NoCopy: true},
		}},
	}
	if h := c.opts.BeforeCreate; h != nil {
		h(ctx, "container", name)
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	cctx, cancel := cleanupContext(ctx, c.opts.CleanupTimeout)
	created, err := c.cli.ContainerCreate(cctx, cfg, hc, &network.NetworkingConfig{}, nil, name)
	cancel()
	if err != nil {
		c.removeContainerByName(ctx, name) // a create that timed out may still have happened
		return "", nil, c.engineErr(fmt.Sprintf("create helper container from image %s for volume %s", imageRef, volumeName), err, ErrImageNotFound)
	}
	c.log.Debug("helper container created", zap.String("name", name), zap.String("image", imageRef), zap.String("volume", volumeName))
	var once sync.Once
	remove = func() {
		once.Do(func() {
			rctx, cancel := cleanupContext(ctx, c.opts.CleanupTimeout)
			defer cancel()
			err := c.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isNotFound(err) {
				c.log.Warn("helper container not removed", zap.String("name", name), zap.Error(err))
			}
		})
	}
	if err := ctx.Err(); err != nil {
		remove()
		return "", nil, err
	}
	return created.ID, remove, nil
}

func (c *Client) removeContainerByName(ctx context.Context, name string) {
	rctx, cancel := cleanupContext(ctx, c.opts.CleanupTimeout)
	defer cancel()
	_ = c.cli.ContainerRemove(rctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// helperImageFor returns ref, or a fresh HelperImage when ref is empty.
func (c *Client) helperImageFor(ctx context.Context, ref string) (string, func(), error) {
	if ref != "" {
		return ref, func() {}, nil
	}
	ref, remove, err := c.HelperImage(ctx)
	if err != nil {
		return "", nil, err
	}
	return ref, func() {
		if err := remove(); err != nil {
			c.log.Warn("helper image not removed", zap.String("image", ref), zap.Error(err))
		}
	}, nil
}

// HelperImage imports a minimal image from an empty root filesystem (no
// pull: it works without any registry), labelled dockpack.helper=1, to
// create helper containers from when no image of a stack is at hand. remove
// deletes it; it is idempotent and uses a fresh context.
func (c *Client) HelperImage(ctx context.Context) (ref string, remove func() error, err error) {
	ref = "dockpack-helper:" + c.opts.Owner.Tag() + "-" + randomHex(6)
	var empty bytes.Buffer
	if err := tar.NewWriter(&empty).Close(); err != nil {
		return "", nil, err
	}
	changes := []string{"LABEL " + LabelHelper + "=1", `ENTRYPOINT ["` + helperEntrypoint + `"]`}
	for k, v := range c.opts.Owner.Labels() {
		changes = append(changes, "LABEL "+k+"="+strconv.Quote(v))
	}
	var once sync.Once
	var rerr error
	remove = func() error {
		once.Do(func() {
			rctx, cancel := cleanupContext(ctx, c.opts.CleanupTimeout)
			defer cancel()
			_, e := c.cli.ImageRemove(rctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
			if e != nil && !isNotFound(e) {
				rerr = c.engineErr("remove helper image "+ref, e, nil)
			}
		})
		return rerr
	}
	if h := c.opts.BeforeCreate; h != nil {
		h(ctx, "image", ref)
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	// As for helper containers: the import runs on a fresh context, and a
	// cancel that came meanwhile removes what it created.
	ictx, cancel := cleanupContext(ctx, c.opts.CleanupTimeout)
	defer cancel()
	body, err := c.cli.ImageImport(ictx, image.ImportSource{Source: &empty, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		_ = remove()
		return "", nil, c.engineErr("import the empty helper image "+ref, err, nil)
	}
	err = jsonStreamError(body)
	body.Close()
	if err != nil {
		_ = remove()
		return "", nil, fmt.Errorf("import the empty helper image %s: %w", ref, err)
	}
	if err := ctx.Err(); err != nil {
		_ = remove()
		return "", nil, err
	}
	c.log.Debug("helper image imported", zap.String("ref", ref))
	return ref, remove, nil
}

// jsonStreamError reads a JSON message stream to its end and returns the
// first error message in it.
func jsonStreamError(r io.Reader) error {
	dec := json.NewDecoder(io.LimitReader(r, maxLoadResponse))
	for {
		var m loadMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unreadable engine answer: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return fmt.Errorf("the engine reported: %s", m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return fmt.Errorf("the engine reported: %s", m.Error)
		}
	}
}

// VolumeSpec describes a volume to create.
type VolumeSpec struct {
	Name    string
	Driver  string            // default "local"
	Options map[string]string // driver options
	Labels  map[string]string // keep com.docker.compose.project/volume so compose adopts it
}

var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Validate reports an unusable spec.
func (s VolumeSpec) Validate() error {
	if !volumeNameRE.MatchString(s.Name) {
		return fmt.Errorf("%w: volume name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]+", ErrInvalidArgument, s.Name)
	}
	return nil
}

// InspectVolume describes a volume, with the containers using it. External
// is false here (it depends on a project, see ResolveStack); Size is known
// only when the engine reports usage data (else -1).
func (c *Client) InspectVolume(ctx context.Context, name string) (Volume, error) {
	v, err := c.cli.VolumeInspect(ctx, name)
	if err != nil {
		return Volume{}, c.engineErr("inspect volume "+name, err, ErrVolumeNotFound)
	}
	out := volumeFromEngine(&v)
	if out.UsedBy, err = c.VolumeUsers(ctx, name); err != nil {
		return Volume{}, err
	}
	return out, nil
}

// CreateVolume creates a volume with the spec's driver, options and labels.
// A volume of that name that exists already is ErrVolumeExists (the engine
// itself would silently return the existing one).
func (c *Client) CreateVolume(ctx context.Context, s VolumeSpec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if _, err := c.cli.VolumeInspect(ctx, s.Name); err == nil {
		return fmt.Errorf("%w: %q (remove it first, or restore into another name)", ErrVolumeExists, s.Name)
	} else if !isNotFound(err) {
		return c.engineErr("inspect volume "+s.Name, err, nil)
	}
	_, err := c.cli.VolumeCreate(ctx, volume.CreateOptions{Name: s.Name, Driver: s.Driver, DriverOpts: s.Options, Labels: s.Labels})
	if err != nil {
		return c.engineErr(fmt.Sprintf("create volume %s (driver %q)", s.Name, s.Driver), err, nil)
	}
	return nil
}

// RemoveVolume removes a volume; force also removes it when the engine
// thinks it is in use by a removed container's leftovers (not by a live one).
func (c *Client) RemoveVolume(ctx context.Context, name string, force bool) error {
	return c.engineErr("remove volume "+name, c.cli.VolumeRemove(ctx, name, force), ErrVolumeNotFound)
}

// VolumeEmpty reports whether the volume holds no entry at all. It looks
// through a helper container created from helperImage (empty: a HelperImage
// is imported and removed afterwards).
func (c *Client) VolumeEmpty(ctx context.Context, name, helperImage string) (bool, error) {
	if _, err := c.cli.VolumeInspect(ctx, name); err != nil {
		return false, c.engineErr("inspect volume "+name, err, ErrVolumeNotFound)
	}
	img, done, err := c.helperImageFor(ctx, helperImage)
	if err != nil {
		return false, err
	}
	defer done()
	id, remove, err := c.createHelper(ctx, img, name, true)
	if err != nil {
		return false, err
	}
	defer remove()
	body, _, err := c.cli.CopyFromContainer(ctx, id, HelperMountPoint)
	if err != nil {
		return false, c.engineErr("list volume "+name, err, nil)
	}
	defer body.Close()
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()
	tr := tar.NewReader(body)
	if _, err := tr.Next(); err != nil { // the volume's root directory
		return false, fmt.Errorf("list volume %s: reading the engine's archive: %w", name, err)
	}
	switch _, err := tr.Next(); {
	case errors.Is(err, io.EOF):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("list volume %s: reading the engine's archive: %w", name, err)
	default:
		return false, nil
	}
}

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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
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
