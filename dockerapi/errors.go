package dockerapi

import (
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// Sentinel errors. Every error this package returns for one of these
// conditions wraps the sentinel, so callers test with errors.Is.
var (
	// ErrEngineUnreachable: the Docker Engine did not answer (socket missing,
	// daemon down, TLS or proxy trouble). The message names the host.
	ErrEngineUnreachable = errors.New("docker engine unreachable")
	// ErrProjectNotFound: no container and no volume carries the compose
	// project label. The concrete error is a *ProjectNotFoundError.
	ErrProjectNotFound = errors.New("compose project not found")
	// ErrImageSaveIncomplete: the ImageSave stream was not a complete image
	// archive (truncated, engine error appended, blob missing, an image
	// missing from it). The bytes already written must be discarded.
	ErrImageSaveIncomplete = errors.New("image export incomplete")
	// ErrVolumeExportIncomplete: the volume's tar stream ended early or was
	// malformed. The bytes already written must be discarded.
	ErrVolumeExportIncomplete = errors.New("volume export incomplete")
	// ErrImageLoad: the engine refused or failed to load an image archive.
	ErrImageLoad = errors.New("image load failed")
	// ErrLayerMismatch: the engine refused a layer of an image archive
	// whose content does not hash to the DiffID its image config lists
	// (also ErrImageLoad): the archive was changed or damaged.
	ErrLayerMismatch = errors.New("image layer does not match its DiffID")
	// ErrVolumeNotFound: no volume of that name exists on the engine.
	ErrVolumeNotFound = errors.New("volume not found")
	// ErrVolumeExists: CreateVolume was asked for a name that exists already.
	ErrVolumeExists = errors.New("volume already exists")
	// ErrImageNotFound: no image matches the reference.
	ErrImageNotFound = errors.New("image not found")
	// ErrContainerNotFound: no container matches the ID or name.
	ErrContainerNotFound = errors.New("container not found")
	// ErrUnsupported: the engine (its API version or image store) cannot do
	// what was asked; the message says what would be needed.
	ErrUnsupported = errors.New("not supported by this docker engine")
	// ErrVolumeImport: the engine refused or failed to extract a volume tar.
	ErrVolumeImport = errors.New("volume import failed")
	// ErrInvalidArgument: a caller-supplied value is unusable.
	ErrInvalidArgument = errors.New("invalid argument")
)

// ProjectNotFoundError is returned by ResolveStack when nothing on the engine
// carries com.docker.compose.project=<Project>. Known lists the compose
// projects the engine does know, so a typo is easy to spot.
type ProjectNotFoundError struct {
	Project string
	Known   []string
}

func (e *ProjectNotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "compose project %q not found: no container (in any state) and no volume carries the label %s=%s",
		e.Project, LabelProject, e.Project)
	if len(e.Known) == 0 {
		b.WriteString("; the engine knows no compose project at all (is this the right engine/DOCKER_HOST?)")
	} else {
		fmt.Fprintf(&b, "; compose projects on this engine: %s", strings.Join(e.Known, ", "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrProjectNotFound) true.
func (e *ProjectNotFoundError) Is(target error) bool { return target == ErrProjectNotFound }

// engineErr wraps an SDK error: a connection failure additionally wraps
// ErrEngineUnreachable (naming the host), a not-found wraps notFound when
// given. what describes the operation ("inspect container x").
func (c *Client) engineErr(what string, err error, notFound error) error {
	if err == nil {
		return nil
	}
	switch {
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("%s: %w at %s: %w", what, ErrEngineUnreachable, c.host, err)
	case notFound != nil && cerrdefs.IsNotFound(err):
		return fmt.Errorf("%s: %w: %w", what, notFound, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
