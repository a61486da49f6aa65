package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/internal/owner"
)

// StaleHelperAge is how old a helper without owner labels (made by an older
// dockpack) must be before RemoveStaleHelpers takes it for debris.
const StaleHelperAge = time.Hour

// RemoveStaleHelpers removes the helper containers and images (label
// LabelHelper) whose owner is dead — dead judges an owner, typically
// owner.Identity.Dead on this host — and those without owner labels older
// than StaleHelperAge. A crash while a helper existed leaves it holding its
// volume ("docker volume rm" fails); this is the recovery. It returns the
// names it removed.
func (c *Client) RemoveStaleHelpers(ctx context.Context, dead func(owner.Identity) bool) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", LabelHelper+"=1"))
	cs, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, c.engineErr("list helper containers", err, nil)
	}
	var removed []string
	var errs []error
	for _, ct := range cs {
		if !staleHelper(ct.Labels, time.Unix(ct.Created, 0), dead) {
			continue
		}
		name := ct.ID[:12]
		if len(ct.Names) > 0 {
			name = ct.Names[0][1:]
		}
		if err := c.cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, c.engineErr("remove stale helper container "+name, err, nil))
			continue
		}
		c.log.Info("stale helper container removed", zap.String("name", name))
		removed = append(removed, name)
	}
	ims, err := c.cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
	if err != nil {
		return removed, errors.Join(append(errs, c.engineErr("list helper images", err, nil))...)
	}
	for _, im := range ims {
		if !staleHelper(im.Labels, time.Unix(im.Created, 0), dead) {
			continue
		}
		name := im.ID
		if len(im.RepoTags) > 0 {
			name = im.RepoTags[0]
		}
		if _, err := c.cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !isNotFound(err) {
			errs = append(errs, c.engineErr("remove stale helper image "+name, err, nil))
			continue
		}
		c.log.Info("stale helper image removed", zap.String("image", name))
		removed = append(removed, name)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("removing stale helpers: %w", errors.Join(errs...))
	}
	return removed, nil
}

func staleHelper(labels map[string]string, created time.Time, dead func(owner.Identity) bool) bool {
	if id, ok := owner.FromLabels(labels); ok {
		return dead(id)
	}
	return time.Since(created) > StaleHelperAge
}
