package pack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

// Images by layer (docs/format.md §4): a store pack holds each image's
// config and each distinct layer as a file of its own, named by its
// digest, instead of one images.tar — so a layer the store has costs
// nothing, and an images.tar is assembled from them when one is needed
// (restore, export).
const (
	// FileImageConfig is an image's config (images/configs/<hex>.json,
	// its sha256 the image's config digest); FileImageLayer one of its
	// layers as the uncompressed tar ImageSave writes
	// (images/layers/<hex>.tar, its sha256 the layer's DiffID).
	FileImageConfig FileKind = "image-config"
	FileImageLayer  FileKind = "image-layer"
	// ImagesDir holds them (names only: a store pack's files are chunks).
	ImagesDir = "images"
)

// ImageLayer is one layer of an image by layer: its DiffID and its file.
type ImageLayer struct {
	DiffID string `json:"diff_id"`
	File   string `json:"file"`
}

// ImageConfigPath is the image-config file of the config digest d.
func ImageConfigPath(d string) string {
	return path.Join(ImagesDir, "configs", strings.TrimPrefix(d, "sha256:")+".json")
}

// ImageLayerPath is the image-layer file of the DiffID d.
func ImageLayerPath(d string) string {
	return path.Join(ImagesDir, "layers", strings.TrimPrefix(d, "sha256:")+".tar")
}

// ImagesByLayer reports whether the pack holds its images by layer.
func (m *Manifest) ImagesByLayer() bool {
	return slices.ContainsFunc(m.Images, func(im ImageEntry) bool { return im.Config != "" })
}

// ImagesSize is the size of the pack's images: images.tar, or the sum of
// the distinct config and layer files.
func (m *Manifest) ImagesSize() int64 {
	var n int64
	for _, f := range m.Files {
		switch f.Kind {
		case FileImages, FileImageConfig, FileImageLayer:
			n += f.Size
		}
	}
	return n
}

// validateImageLayers checks the images by layer: every image has its
// config file (whose sha256 is the config digest) and, per layer, a valid
// DiffID and its layer file (whose sha256 is the DiffID; in a sealed
// store pack the recorded checksum is keyed instead), at the paths
// named by the digests; no images.tar beside them; no config or layer
// file that no image uses.
func (m *Manifest) validateImageLayers(files map[string]FileEntry, bad func(format string, a ...any)) {
	byLayer := m.ImagesByLayer()
	used := map[string]bool{}
	check := func(what, p string, kind FileKind, digest string) {
		used[p] = true
		f, ok := files[p]
		switch {
		case !ok:
			bad("%s names file %q, which components does not list", what, p)
		case f.Kind != kind:
			bad("%s names file %q of kind %q, want %q", what, p, f.Kind, kind)
		case !m.Sealed() && "sha256:"+f.SHA256 != digest: // sealed: a keyed checksum; the content is checked against the digest as it is read (WriteImages)
			bad("%s: file %q has sha256 %s, not the digest %s", what, p, f.SHA256, digest)
		}
	}
	for i, im := range m.Images {
		what := fmt.Sprintf("images[%d] (%s)", i, strings.Join(im.RepoTags, ", "))
		switch {
		case !byLayer:
			continue
		case im.Config == "":
			bad("%s has no config file, while other images are stored by layer", what)
			continue
		case im.Config != ImageConfigPath(im.ConfigDigest):
			bad("%s: config file %q is not %q", what, im.Config, ImageConfigPath(im.ConfigDigest))
		}
		check(what+" config", im.Config, FileImageConfig, im.ConfigDigest)
		for j, l := range im.Layers {
			lw := fmt.Sprintf("%s layer %d", what, j+1)
			if !strings.HasPrefix(l.DiffID, "sha256:") || !validSHA256(strings.TrimPrefix(l.DiffID, "sha256:")) {
				bad("%s: diff_id %q is not a sha256 digest", lw, l.DiffID)
				continue
			}
			if l.File != ImageLayerPath(l.DiffID) {
				bad("%s: file %q is not %q", lw, l.File, ImageLayerPath(l.DiffID))
			}
			check(lw, l.File, FileImageLayer, l.DiffID)
		}
	}
	for p, f := range files {
		switch {
		case (f.Kind == FileImageConfig || f.Kind == FileImageLayer) && !used[p]:
			bad("components: %s (%s) belongs to no image", p, f.Kind)
		case f.Kind == FileImages && byLayer:
			bad("components: %s beside images stored by layer", p)
		}
	}
}

// checkImageFile is the content check of an image's config or layer: a
// config's rootfs.diff_ids are the layers the manifest lists for it; a
// layer is a complete tar.
func checkImageFile(ctx context.Context, r io.Reader, m *Manifest, f FileEntry) finding {
	var fd finding
	if f.Kind == FileImageLayer {
		sum, err := tarcheck.ValidateTar(ctx, r)
		if err != nil && ctx.Err() == nil {
			fd.code, fd.problem = CodeStructure, "layer: "+err.Error()
		}
		fd.detail = fmt.Sprintf("layer tar complete: %d entries, %s of file content", sum.Entries, units.BytesSize(float64(sum.ContentBytes)))
		return fd
	}
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		fd.code, fd.problem = CodeReadError, err.Error()
		return fd
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		fd.code, fd.problem = CodeStructure, "image config: "+err.Error()
		return fd
	}
	for _, im := range m.Images {
		if im.Config != f.Path {
			continue
		}
		var want []string
		for _, l := range im.Layers {
			want = append(want, l.DiffID)
		}
		if !slices.Equal(cfg.RootFS.DiffIDs, want) {
			fd.code, fd.problem = CodeStructure, fmt.Sprintf("the config's layers (diff_ids) %v are not the manifest's %v", cfg.RootFS.DiffIDs, want)
			return fd
		}
	}
	fd.detail = fmt.Sprintf("image config, %d layers", len(cfg.RootFS.DiffIDs))
	return fd
}

// WriteImagesOptions are the options of Dir.WriteImages.
type WriteImagesOptions struct {
	// Omit, when set, leaves layer i of image im out (the engine has it).
	Omit func(im ImageEntry, i int) bool
	// ChunksChecked trusts a store file's chunks, each checked against its
	// sha256 id as it is read, instead of hashing the whole file again (a
	// restore: the engine checks each layer against its DiffID as it loads
	// it). Without it every file is checked against its digest (export).
	ChunksChecked bool
	// EngineChecksLayers: the archive goes to an engine that hashes each
	// layer against its DiffID as it loads it (a restore into a
	// graph-driver engine, restore.LayerCheckingEngine). A store layer's
	// chunks are then not hashed against their ids either (configs are);
	// a damaged layer fails the load (dockerapi.ErrLayerMismatch).
	EngineChecksLayers bool
}

// WriteImages writes an image archive (docker load's input) of images,
// which the pack holds by layer, to w: each config and layer read through d
// (a store pack's from its chunks) and checked against its digest as it
// streams (store.WriteImageArchive; o says what is left out and how a store
// file is checked). It returns the bytes written.
func (d *Dir) WriteImages(ctx context.Context, m *Manifest, images []ImageEntry, o WriteImagesOptions, w io.Writer) (int64, error) {
	file := func(p, digest string, layer bool) (store.ArchiveFile, error) {
		fe, ok := m.File(p)
		if !ok {
			return store.ArchiveFile{}, fmt.Errorf("%w: %s is not listed", ErrManifest, p)
		}
		chunked := m.IsStore() && !m.Sealed() && fe.Chunks != nil
		trusted := chunked && layer && o.EngineChecksLayers
		return store.ArchiveFile{Digest: digest, Size: fe.Size, Checked: chunked && (o.ChunksChecked || trusted),
			Open: func(ctx context.Context) (io.ReadCloser, error) { return d.openFile(ctx, m, fe, trusted) }}, nil
	}
	var arch []store.ArchiveImage
	for _, im := range images {
		cfg, err := file(im.Config, im.ConfigDigest, false)
		if err != nil {
			return 0, err
		}
		a := store.ArchiveImage{RepoTags: im.RepoTags, Config: cfg}
		for i, l := range im.Layers {
			lf, err := file(l.File, l.DiffID, true)
			if err != nil {
				return 0, err
			}
			lf.Omit = o.Omit != nil && o.Omit(im, i)
			a.Layers = append(a.Layers, lf)
		}
		arch = append(arch, a)
	}
	return store.WriteImageArchive(ctx, w, arch, store.ArchiveOptions{ModTime: m.CreatedAt})
}

// ImagesArchiveSize is the size of the content WriteImages writes for
// images (omit as there): the distinct configs and layers it includes.
func (m *Manifest) ImagesArchiveSize(images []ImageEntry, omit func(im ImageEntry, i int) bool) int64 {
	seen := map[string]bool{}
	var n int64
	add := func(p string) {
		if fe, ok := m.File(p); ok && !seen[p] {
			seen[p] = true
			n += fe.Size
		}
	}
	for _, im := range images {
		add(im.Config)
		for i, l := range im.Layers {
			if omit == nil || !omit(im, i) {
				add(l.File)
			}
		}
	}
	return n
}
