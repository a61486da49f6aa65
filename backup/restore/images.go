package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
)

// LayerChainsEngine is a restore Engine that tells which layer chains it
// holds (*dockerapi.Client does): the images of a pack that holds them by
// layer are then loaded without the layers the engine has.
type LayerChainsEngine interface {
	LayerChains(ctx context.Context) (map[string]bool, error)
}

// images loads the images the plan loads — images.tar, or (images by
// layer) an archive assembled from their configs and layers — and checks
// that every tag resolves to its recorded config digest.
func (r *restorer) images(ctx context.Context) error {
	var load []pack.ImageEntry
	for _, ip := range r.plan.Images {
		if ip.Action != ActionLoad {
			continue
		}
		if i := slices.IndexFunc(r.m.Images, func(im pack.ImageEntry) bool { return im.ConfigDigest == ip.ConfigDigest }); i >= 0 {
			load = append(load, r.m.Images[i])
		}
	}
	var err error
	var chains time.Duration // asking the engine which layers it has
	t0 := time.Now()
	switch {
	case len(load) == 0:
		r.trk.Begin(progress.StepImages, pack.ImagesFile, 0, r.t.T("restore.progress.images_present"))
	case r.m.ImagesByLayer():
		err = r.loadImageLayers(ctx, load, &chains)
	default:
		err = r.loadImagesTar(ctx)
	}
	if err != nil {
		return err
	}
	t1 := time.Now()
	err = r.checkImages(ctx)
	// Where the step's time goes: the load (for images by layer, after
	// asking the engine which layers it has) — its upload, then the
	// engine's own work —, the tags' check.
	r.log.Info("images loaded", zap.Int("images", len(load)), zap.Bool("by_layer", r.m.ImagesByLayer()), zap.Int64("bytes", r.res.Bytes),
		zap.Duration("took", time.Since(t0)), zap.Duration("chains", chains), zap.Duration("load", t1.Sub(t0)), zap.Duration("upload", r.upload), zap.Duration("check", time.Since(t1)))
	return err
}

// LayerCheckingEngine is a restore Engine that says whether its image
// load checks layers against their DiffIDs as `docker load` does
// (*dockerapi.Client does: dockerapi.Client.LoadChecksLayers). A classic
// pack's images.tar is then streamed through imagesGuard instead of being
// hashed whole.
type LayerCheckingEngine interface {
	LoadChecksLayers(ctx context.Context) (bool, error)
}

// loadImagesTar loads images.tar as it is: checked as it streams by
// imagesGuard (the engine checks each layer) when the engine checks layers
// and the file is not sealed, else against its whole sha256.
func (r *restorer) loadImagesTar(ctx context.Context) error {
	fe, _ := r.m.File(pack.ImagesFile)
	r.trk.Begin(progress.StepImages, pack.ImagesFile, fe.Size, r.t.T("restore.progress.images", len(r.plan.Images), units.BytesSize(float64(fe.Size))))
	var rd io.Reader
	var done func()
	var err error
	if r.engineChecksLayers(ctx) && !r.m.Sealed() {
		rd, done, err = r.openGuarded(ctx, fe)
	} else {
		rd, done, err = r.openChecked(ctx, progress.StepImages, pack.ImagesFile, fe)
	}
	if err != nil {
		return err
	}
	lr, err := r.spec.Engine.LoadImages(ctx, rd)
	done()
	if errors.Is(err, dockerapi.ErrLayerMismatch) {
		return fmt.Errorf("%w: %s: %w", ErrPackChanged, pack.ImagesFile, err)
	}
	if err != nil {
		return err
	}
	r.res.Bytes += fe.Size
	r.logLoad(lr)
	return nil
}

// engineChecksLayers: see LayerCheckingEngine (false when it cannot tell).
func (r *restorer) engineChecksLayers(ctx context.Context) bool {
	ce, ok := r.spec.Engine.(LayerCheckingEngine)
	if !ok {
		return false
	}
	yes, err := ce.LoadChecksLayers(ctx)
	if err != nil {
		r.log.Warn("the engine's image store is unknown: images.tar is hashed whole as it streams", zap.Error(err))
	}
	return yes && err == nil
}

// loadImageLayers streams an image archive assembled from the images'
// configs and layers straight into ImageLoad (no file in between), without
// the layers whose chain the engine holds.
func (r *restorer) loadImageLayers(ctx context.Context, load []pack.ImageEntry, chains *time.Duration) error {
	t0 := time.Now()
	omit := r.layersPresent(ctx)
	*chains = time.Since(t0)
	checks := r.engineChecksLayers(ctx)
	total := r.m.ImagesArchiveSize(load, omit)
	r.trk.Begin(progress.StepImages, pack.ImagesDir, total, r.t.T("restore.progress.images", len(load), units.BytesSize(float64(total))))
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		n, err := r.pd.WriteImages(ctx, r.m, load, pack.WriteImagesOptions{Omit: omit, ChunksChecked: true, EngineChecksLayers: checks}, r.trk.Writer(pw))
		if err == nil {
			r.res.Bytes += n
		}
		pw.CloseWithError(err)
		werr <- err
	}()
	var rd io.Reader = pr
	if h := r.spec.Hooks.WrapReader; h != nil {
		rd = h(progress.StepImages, pack.ImagesDir, rd)
	}
	lr, err := r.spec.Engine.LoadImages(ctx, rd)
	pr.CloseWithError(errors.New("the image load ended"))
	if aerr := <-werr; aerr != nil {
		// The archive could not be assembled (a damaged chunk): that is
		// what failed, whatever the engine made of the cut stream.
		return fmt.Errorf("assemble the images of the pack: %w", aerr)
	}
	if errors.Is(err, dockerapi.ErrLayerMismatch) {
		return fmt.Errorf("%w: a layer of the pack's images: %w", ErrPackChanged, err)
	}
	if err != nil {
		return err
	}
	r.logLoad(lr)
	return nil
}

// layersPresent says which layers the engine has (by layer chain): nil
// when it cannot tell (every layer is sent then).
func (r *restorer) layersPresent(ctx context.Context) func(pack.ImageEntry, int) bool {
	ce, ok := r.spec.Engine.(LayerChainsEngine)
	if !ok {
		return nil
	}
	chains, err := ce.LayerChains(ctx)
	if err != nil {
		if !errors.Is(err, dockerapi.ErrUnsupported) {
			r.log.Warn("the engine's layers are unknown: every layer is sent", zap.Error(err))
		}
		return nil
	}
	return func(im pack.ImageEntry, i int) bool {
		ids := make([]string, 0, i+1)
		for _, l := range im.Layers[:i+1] {
			ids = append(ids, l.DiffID)
		}
		ch := dockerapi.ChainIDs(ids)
		return chains[ch[len(ch)-1]]
	}
}

func (r *restorer) logLoad(lr dockerapi.LoadResult) {
	r.upload = lr.Upload
	for _, n := range lr.Notes {
		r.log.Info("image load", zap.String("engine", n))
	}
}

// checkImages checks that every tag resolves to the recorded config digest.
func (r *restorer) checkImages(ctx context.Context) error {
	var probs []string
	for _, im := range r.m.Images {
		refs := im.RepoTags
		if len(refs) == 0 {
			refs = []string{im.ConfigDigest}
		}
		for _, ref := range refs {
			d, err := r.spec.Engine.ImageConfigDigest(ctx, ref)
			switch {
			case errors.Is(err, dockerapi.ErrUnsupported):
				r.res.Images = append(r.res.Images, RestoredImage{Ref: ref, ConfigDigest: im.ConfigDigest})
			case err != nil:
				probs = append(probs, fmt.Sprintf("%s: %v", ref, err))
			case d != im.ConfigDigest:
				probs = append(probs, fmt.Sprintf("%s: expected config digest %s, actual %s", ref, im.ConfigDigest, d))
			default:
				r.res.Images = append(r.res.Images, RestoredImage{Ref: ref, ConfigDigest: d, Checked: true})
			}
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrImageMismatch, strings.Join(probs, "; "))
	}
	return nil
}
