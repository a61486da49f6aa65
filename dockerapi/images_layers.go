package dockerapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/docker/docker/api/types/image"
)

// ImageLayers is what an image is made of on a graph-driver engine: its
// config (whose sha256 is the image ID) and its layers in order, each
// named by its DiffID (the sha256 of the uncompressed layer tar, which is
// what ImageSave writes as <dir>/layer.tar).
type ImageLayers struct {
	ID           string // the image ID
	ConfigDigest string // "sha256:…" of the image config (= ID on the graph-driver store)
	DiffIDs      []string
	RepoTags     []string // without "<none>:<none>"
	RepoDigests  []string
	Size         int64
}

// ImageLayers inspects the image ref names: its config digest and its
// layers' DiffIDs. The containerd image store's IDs are manifest digests,
// its layers compressed and its API exposes no config digest: there it is
// ErrUnsupported (images by layer need the graph-driver store).
func (c *Client) ImageLayers(ctx context.Context, ref string) (ImageLayers, error) {
	ei, err := c.engineInfo(ctx)
	if err != nil {
		return ImageLayers{}, err
	}
	if ei.ImageStore == ImageStoreContainerd {
		return ImageLayers{}, fmt.Errorf("%w: layers of image %s: the engine uses the containerd image store, whose image IDs are manifest digests and whose layers are stored compressed; images by layer need the graph-driver image store",
			ErrUnsupported, ref)
	}
	ii, err := c.cli.ImageInspect(ctx, ref)
	if err != nil {
		return ImageLayers{}, c.engineErr("inspect image "+ref, err, ErrImageNotFound)
	}
	if ii.RootFS.Type != "" && ii.RootFS.Type != "layers" {
		return ImageLayers{}, fmt.Errorf("%w: image %s has a root filesystem of type %q (want layers)", ErrUnsupported, ref, ii.RootFS.Type)
	}
	return ImageLayers{ID: ii.ID, ConfigDigest: ii.ID, DiffIDs: append([]string(nil), ii.RootFS.Layers...),
		RepoTags: RealTags(ii.RepoTags), RepoDigests: ii.RepoDigests, Size: ii.Size}, nil
}

// LoadChecksLayers says whether the engine's ImageLoad checks what it
// loads as `docker load` does on the graph-driver image store (moby's
// image/tarexport): the archive is unpacked in full before anything is
// loaded, manifest.json says which configs and tags to load, each image ID
// is the sha256 of its config, and each layer is hashed as it is
// registered and refused unless it is the DiffID its config lists
// (ErrLayerMismatch). Not said of the containerd image store (false).
func (c *Client) LoadChecksLayers(ctx context.Context) (bool, error) {
	ei, err := c.engineInfo(ctx)
	if err != nil {
		return false, err
	}
	return ei.ImageStore == ImageStoreGraphDriver, nil
}

// LayerChains lists the layer chains the engine holds: the ChainID of
// every prefix of every image's layers. An image archive handed to
// ImageLoad may leave out a layer whose chain is in this set (the engine
// reuses it); on the containerd image store it is ErrUnsupported.
func (c *Client) LayerChains(ctx context.Context) (map[string]bool, error) {
	ei, err := c.engineInfo(ctx)
	if err != nil {
		return nil, err
	}
	if ei.ImageStore == ImageStoreContainerd {
		return nil, fmt.Errorf("%w: layer chains: the engine uses the containerd image store", ErrUnsupported)
	}
	ims, err := c.cli.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		return nil, c.engineErr("list images", err, nil)
	}
	out := map[string]bool{}
	for _, im := range ims {
		ii, err := c.cli.ImageInspect(ctx, im.ID)
		if isNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, c.engineErr("inspect image "+im.ID, err, ErrImageNotFound)
		}
		for _, ch := range ChainIDs(ii.RootFS.Layers) {
			out[ch] = true
		}
	}
	return out, nil
}

// ChainIDs are the ChainIDs of each prefix of a layer list (DiffIDs,
// "sha256:…", base first): the first is its DiffID, each next one
// sha256("<previous ChainID> <DiffID>") — how the engine names a layer
// stacked on its parents.
func ChainIDs(diffIDs []string) []string {
	out := make([]string, 0, len(diffIDs))
	prev := ""
	for _, d := range diffIDs {
		if prev == "" {
			prev = d
		} else {
			sum := sha256.Sum256([]byte(prev + " " + d))
			prev = "sha256:" + hex.EncodeToString(sum[:])
		}
		out = append(out, prev)
	}
	return out
}
