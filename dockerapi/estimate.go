package dockerapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// ImagesUniqueBytes estimates the bytes an archive of images holds: the sum
// of their distinct layers. Layers are identified through the image history:
// two images whose histories share a prefix share those layers (the engine
// reports a layer's size on the history row that created it), so a shared
// base is counted once — like one ImageSave call stores it once.
func (c *Client) ImagesUniqueBytes(ctx context.Context, images []Image) (int64, error) {
	seen := map[string]bool{}
	var total int64
	for _, im := range images {
		hist, err := c.cli.ImageHistory(ctx, im.ID)
		if err != nil {
			return 0, c.engineErr(fmt.Sprintf("history of image %s", im.ID), err, ErrImageNotFound)
		}
		// The engine lists the newest row first; walk from the base.
		slices.Reverse(hist)
		h := sha256.New()
		for _, row := range hist {
			fmt.Fprintf(h, "%d\x00%s\x00%d\x00%s\x00", row.Created, row.CreatedBy, row.Size, row.Comment)
			key := hex.EncodeToString(h.Sum(nil))
			if seen[key] {
				continue
			}
			seen[key] = true
			total += row.Size
		}
	}
	return total, nil
}
