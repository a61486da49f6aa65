package dockerapi

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/docker/docker/api/types/volume"
)

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
