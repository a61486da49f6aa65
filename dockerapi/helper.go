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
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"go.uber.org/zap"
)

// HelperMountPoint is where helper containers mount the volume they serve.
const HelperMountPoint = "/dockpack-volume"

// helperEntrypoint is never executed: helper containers are never started.
const helperEntrypoint = "/dockpack-helper-never-started"

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
	cfg, hc := idleContainer(imageRef, labels, volumeName, HelperMountPoint, readOnly)
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

// idleContainer is the configuration of a container that is created but
// never started (helpers and restore markers): imageRef with an entrypoint
// that is never run, no network, and the volume at target (NoCopy).
func idleContainer(imageRef string, labels map[string]string, volumeName, target string, readOnly bool) (*container.Config, *container.HostConfig) {
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
			Target:        target,
			ReadOnly:      readOnly,
			VolumeOptions: &mount.VolumeOptions{NoCopy: true},
		}},
	}
	return cfg, hc
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
