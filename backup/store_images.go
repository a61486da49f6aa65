package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/nonnil"
)

// ImageLayersEngine is an Engine that tells an image's config digest and
// layers (*dockerapi.Client does). With it a store backup stores images by
// layer (docs/format.md §4): an image whose config and layers the store
// holds costs no ImageSave at all. Without it (test fakes) a store pack
// holds images.tar as one file of chunks.
type ImageLayersEngine interface {
	ImageLayers(ctx context.Context, ref string) (dockerapi.ImageLayers, error)
}

// storeImagesSupported refuses a store pack of images on the containerd
// image store (its image IDs are manifest digests, its layers compressed).
func (r *runner) storeImagesSupported() error {
	if r.spec.Format != FormatStore || !r.spec.Has(pack.ComponentImages) || len(r.plan.Stack.Images) == 0 ||
		r.plan.Engine.ImageStore != dockerapi.ImageStoreContainerd {
		return nil
	}
	return fmt.Errorf("%w: a store pack (--format store) of images needs the graph-driver image store; this engine (%s, %s) uses the containerd image store: back up with --format classic, or leave the images out (--no-images)",
		dockerapi.ErrUnsupported, r.plan.Engine.Version, r.plan.Engine.StorageDriver)
}

// layerFile is an image's config or layer in this pack: its chunk list
// and what storing it cost.
type layerFile struct {
	kind   pack.FileKind
	size   int64
	sha256 string // hex
	list   []byte // the chunk list as written into the pack
	count  int
	stats  store.Stats
}

// storeImages stores the stack's images by layer. Each image's config and
// layers are looked up in the store by digest; only the images that miss
// something are saved, with one ImageSave whose stream is split into
// config and layer files as it arrives (each layer checked against its
// DiffID); what the store has is reused from the pack that wrote it.
func (r *runner) storeImages(ctx context.Context, eng ImageLayersEngine) error {
	st := r.plan.Stack
	t0 := time.Now()
	layers := make([]dockerapi.ImageLayers, len(st.Images))
	for i, im := range st.Images {
		il, err := eng.ImageLayers(ctx, im.ID)
		if err != nil {
			return err
		}
		layers[i] = il
	}
	cat, err := r.loadImageCatalog(ctx)
	if err != nil {
		return err
	}
	files := map[string]*layerFile{} // pack path → file
	var missing []string             // image IDs to save
	for _, il := range layers {
		complete := true
		for _, p := range imagePaths(il) {
			if _, ok := files[p.path]; ok {
				continue
			}
			cf, err := cat.lookup(ctx, p.path)
			if err != nil {
				return err
			}
			if cf == nil {
				complete = false
				continue
			}
			files[p.path] = &layerFile{kind: p.kind, size: cf.fe.Size, sha256: cf.fe.SHA256, list: cf.list, count: len(cf.cl.Chunks),
				stats: store.Stats{ReusedRawBytes: cf.fe.Size, ReusedBlobs: len(cf.cl.Chunks)}}
		}
		if !complete {
			missing = append(missing, il.ID)
		}
	}
	r.trk.Begin(progress.StepImages, "", r.plan.Estimate.Images, r.t("job.images_by_layer", len(layers), len(layers)-len(missing), len(missing)))
	r.log.Info("images by layer", zap.Int("images", len(layers)), zap.Int("to_save", len(missing)))
	t1 := time.Now()
	if len(missing) > 0 {
		if err := r.saveImageLayers(ctx, missing, layers, files); err != nil {
			return err
		}
	}
	t2 := time.Now()
	if err := r.recordImageLayers(ctx, layers, files); err != nil {
		return err
	}
	// Where the step's time goes: inspecting the images and finding their
	// files in the store, the ImageSave split into the store, the chunk
	// lists written into the pack.
	s := r.store.stats[string(pack.ComponentImages)]
	r.log.Info("images stored", zap.Int("images", len(layers)), zap.Int("saved", len(missing)), zap.Duration("took", time.Since(t0)),
		zap.Duration("lookup", t1.Sub(t0)), zap.Duration("save", t2.Sub(t1)), zap.Duration("record", time.Since(t2)),
		zap.Int64("new_bytes", s.NewBytes), zap.Int64("reused_raw_bytes", s.ReusedRawBytes))
	return nil
}

// imagePath is a pack file of an image: its config or a layer.
type imagePath struct {
	path   string
	kind   pack.FileKind
	digest string
}

func imagePaths(il dockerapi.ImageLayers) []imagePath {
	out := []imagePath{{path: pack.ImageConfigPath(il.ConfigDigest), kind: pack.FileImageConfig, digest: il.ConfigDigest}}
	for _, d := range il.DiffIDs {
		out = append(out, imagePath{path: pack.ImageLayerPath(d), kind: pack.FileImageLayer, digest: d})
	}
	return out
}

// saveImageLayers saves the images ids with one ImageSave, split into the
// store while it streams, and adds their configs and layers to files.
func (r *runner) saveImageLayers(ctx context.Context, ids []string, layers []dockerapi.ImageLayers, files map[string]*layerFile) error {
	sr := r.store
	if err := sr.b.Check(ctx); err != nil {
		return err
	}
	split := sr.w.SplitImages(ctx)
	var w io.Writer = split
	if h := r.spec.Hooks.WrapWriter; h != nil {
		w = h(progress.StepImages, pack.ImagesDir, w)
	}
	sres, err := r.spec.Engine.SaveImages(ctx, ids, r.trk.Writer(w))
	if err != nil {
		split.Abort(err)
		return err
	}
	saved, err := split.Finish()
	if err != nil {
		if errors.Is(err, store.ErrImageArchive) {
			return fmt.Errorf("%w: %w (nothing of it is stored)", dockerapi.ErrImageSaveIncomplete, err)
		}
		return err
	}
	r.man.MissingPlatforms = sres.MissingPlatforms
	byDigest := map[string]store.SplitImage{}
	for _, s := range saved {
		byDigest[s.ConfigDigest] = s
	}
	for _, il := range layers {
		if !slices.Contains(ids, il.ID) {
			continue
		}
		s, ok := byDigest[il.ConfigDigest]
		if !ok || len(s.Layers) != len(il.DiffIDs) {
			return fmt.Errorf("%w: image %s (%s) is not in the saved archive as inspected (changed meanwhile?)",
				dockerapi.ErrImageSaveIncomplete, il.ID, strings.Join(il.RepoTags, ", "))
		}
		if err := addSplitFile(files, pack.FileImageConfig, pack.ImageConfigPath(s.ConfigDigest), s.Config); err != nil {
			return err
		}
		for _, l := range s.Layers {
			if err := addSplitFile(files, pack.FileImageLayer, pack.ImageLayerPath(l.Digest), l); err != nil {
				return err
			}
		}
	}
	return nil
}

// addSplitFile adds a config or layer the split stored (unless the store
// had it: that file is reused from its pack).
func addSplitFile(files map[string]*layerFile, kind pack.FileKind, p string, f store.ImageFile) error {
	if _, ok := files[p]; ok {
		return nil
	}
	list, err := json.Marshal(chunkList{Path: p, Size: f.Size, SHA256: f.SHA256, Chunks: nonNilChunks(f.Chunks)})
	if err != nil {
		return err
	}
	files[p] = &layerFile{kind: kind, size: f.Size, sha256: f.SHA256, list: list, count: len(f.Chunks), stats: f.Stats}
	return nil
}

// recordImageLayers writes each file's chunk list into the pack and the
// images into the manifest.
func (r *runner) recordImageLayers(ctx context.Context, layers []dockerapi.ImageLayers, files map[string]*layerFile) error {
	st := r.plan.Stack
	for i, il := range layers {
		e := pack.ImageEntry{ID: il.ID, ConfigDigest: il.ConfigDigest, RepoTags: nonnil.Slice(dockerapi.RealTags(st.Images[i].RepoTags)),
			RepoDigests: nonnil.Slice(st.Images[i].RepoDigests), Size: st.Images[i].Size, Config: pack.ImageConfigPath(il.ConfigDigest)}
		for _, p := range imagePaths(il) {
			f := files[p.path]
			if f == nil {
				return fmt.Errorf("%w: %s of image %s is neither in the store nor in the saved archive", dockerapi.ErrImageSaveIncomplete, p.path, il.ID)
			}
			if p.kind == pack.FileImageLayer {
				e.Layers = append(e.Layers, pack.ImageLayer{DiffID: p.digest, File: p.path})
			}
			if f.list == nil {
				continue // recorded for an image before
			}
			if err := r.addChunkList(ctx, p.path, f); err != nil {
				return err
			}
			f.list = nil
		}
		r.man.Images = append(r.man.Images, e)
	}
	return nil
}

// addChunkList writes a file's chunk list into the pack and lists the file.
func (r *runner) addChunkList(ctx context.Context, rel string, f *layerFile) error {
	sr := r.store
	lp := pack.ChunkListPath(rel)
	_, lsum, err := r.dir.WriteFile(ctx, lp, nil, func(w io.Writer) error { _, err := w.Write(f.list); return err })
	if err != nil {
		return err
	}
	sr.sums = append(sr.sums, pack.Sum{SHA256: lsum, Path: lp})
	comp := string(pack.ComponentImages)
	s := sr.stats[comp]
	s.Add(f.stats)
	sr.stats[comp] = s
	r.files = append(r.files, pack.FileEntry{Path: rel, Kind: f.kind, Size: f.size, SHA256: f.sha256, Chunks: &pack.ChunksEntry{List: lp,
		ListSHA256: lsum, Count: f.count, NewBytes: f.stats.NewBytes, NewRawBytes: f.stats.NewRawBytes, ReusedRawBytes: f.stats.ReusedRawBytes}})
	return nil
}
