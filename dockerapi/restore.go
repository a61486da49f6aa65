package dockerapi

import (
	"context"
	"fmt"
	"sort"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"go.uber.org/zap"
)

// Labels of the markers a restore leaves on volumes whose content is not
// complete yet.
//
// The engine cannot change the labels of an existing volume, so a label on
// the volume itself could never be taken off once the content is complete.
// Instead, a restore creates — never starts — a small marker container that
// mounts the volume and carries LabelRestoreIncomplete=<pack name> and
// LabelRestoreVolume=<volume>, fills the volume, and removes the marker. A
// marker that is still there (the restore failed or its process died) tells
// the next restore that the volume is its own unfinished work, which it may
// replace without being forced. A marker keeps no data and runs no process;
// its image may even be gone.
const (
	LabelRestoreIncomplete = "dockpack.restore.incomplete"
	LabelRestoreVolume     = "dockpack.restore.volume"
)

// MarkerMountPoint is where a marker container mounts its volume.
const MarkerMountPoint = "/dockpack-restore-volume"

// MarkVolumeIncomplete creates the marker container of volume (see
// LabelRestoreIncomplete) from image, which any image on the engine can be:
// the container is never started. pack names the pack being restored.
func (c *Client) MarkVolumeIncomplete(ctx context.Context, volumeName, image, pack string) error {
	if err := (VolumeSpec{Name: volumeName}).Validate(); err != nil {
		return err
	}
	name := "dockpack-restore-marker-" + randomHex(6)
	labels := map[string]string{LabelRestoreIncomplete: pack, LabelRestoreVolume: volumeName}
	cfg, hc := idleContainer(image, labels, volumeName, MarkerMountPoint, true)
	if _, err := c.cli.ContainerCreate(ctx, cfg, hc, &network.NetworkingConfig{}, nil, name); err != nil {
		c.removeContainerByName(ctx, name)
		return c.engineErr(fmt.Sprintf("create the incomplete-restore marker of volume %s from image %s", volumeName, image), err, ErrImageNotFound)
	}
	c.log.Debug("volume marked incomplete", zap.String("volume", volumeName), zap.String("pack", pack), zap.String("marker", name))
	return nil
}

// VolumeIncompleteMarks returns the pack names of the incomplete-restore
// markers of volume, sorted; none means no restore left it unfinished.
func (c *Client) VolumeIncompleteMarks(ctx context.Context, volumeName string) ([]string, error) {
	_, packs, err := c.markers(ctx, volumeName)
	if err != nil {
		return nil, err
	}
	sort.Strings(packs)
	return packs, nil
}

// ClearVolumeMarks removes every incomplete-restore marker of volume: its
// content is complete (or the volume is about to be removed).
func (c *Client) ClearVolumeMarks(ctx context.Context, volumeName string) error {
	ids, _, err := c.markers(ctx, volumeName)
	if err != nil {
		return err
	}
	for _, id := range ids {
		err := c.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}) // anonymous volumes of the image's VOLUMEs; never the named one
		if err != nil && !isNotFound(err) {
			return c.engineErr("remove the incomplete-restore marker "+shortID(id)+" of volume "+volumeName, err, nil)
		}
	}
	return nil
}

func (c *Client) markers(ctx context.Context, volumeName string) (ids, packs []string, err error) {
	f := filters.NewArgs(filters.Arg("label", LabelRestoreVolume+"="+volumeName))
	cs, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, nil, c.engineErr("list the incomplete-restore markers of volume "+volumeName, err, nil)
	}
	for _, ct := range cs {
		if _, ok := ct.Labels[LabelRestoreIncomplete]; !ok {
			continue
		}
		ids = append(ids, ct.ID)
		packs = append(packs, ct.Labels[LabelRestoreIncomplete])
	}
	return ids, packs, nil
}
