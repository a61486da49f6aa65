package backup

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/nonnil"
)

func (r *runner) images(ctx context.Context) error {
	if r.store != nil {
		if eng, ok := r.spec.Engine.(ImageLayersEngine); ok {
			return r.storeImages(ctx, eng) // store_images.go: by layer
		}
	}
	st := r.plan.Stack
	var refs []string
	for _, im := range st.Images {
		tags := dockerapi.RealTags(im.RepoTags)
		if len(tags) == 0 {
			refs = append(refs, im.ID)
			continue
		}
		refs = append(refs, tags...)
	}
	r.trk.Begin(progress.StepImages, "", r.plan.Estimate.Images, r.t("job.images", len(st.Images), len(refs)))
	var sr dockerapi.SaveResult
	t0 := time.Now()
	var saved time.Time
	_, err := r.writeFile(ctx, progress.StepImages, pack.ImagesFile, pack.ImagesFile, pack.FileImages, func(w io.Writer) error {
		var err error
		sr, err = r.spec.Engine.SaveImages(ctx, refs, w)
		saved = time.Now()
		return err
	})
	if err != nil {
		return err
	}
	// Where the step's time goes: the engine staging the export before
	// its first byte, the stream (validated, hashed, written), the fsync.
	r.log.Info("images saved", zap.Int("images", len(st.Images)), zap.Int64("bytes", sr.Bytes), zap.Duration("took", time.Since(t0)),
		zap.Duration("first_byte", sr.FirstByte), zap.Duration("stream", saved.Sub(t0)-sr.FirstByte), zap.Duration("sync", time.Since(saved)))
	for _, im := range st.Images {
		digest, err := configDigestFor(im, sr.Images)
		if err != nil {
			return fmt.Errorf("%w: %v", dockerapi.ErrImageSaveIncomplete, err)
		}
		r.man.Images = append(r.man.Images, pack.ImageEntry{ID: im.ID, ConfigDigest: digest, RepoTags: nonnil.Slice(dockerapi.RealTags(im.RepoTags)),
			RepoDigests: nonnil.Slice(im.RepoDigests), Size: im.Size})
	}
	r.man.MissingPlatforms = sr.MissingPlatforms
	return nil
}

// configDigestFor finds an image's entry in the saved archive by tag, or by
// ID for untagged images (graph-driver IDs are config digests).
func configDigestFor(im dockerapi.Image, saved []dockerapi.SavedImage) (string, error) {
	tags := dockerapi.RealTags(im.RepoTags)
	for _, s := range saved {
		for _, t := range s.RepoTags {
			if slices.Contains(tags, t) {
				return s.ConfigDigest, nil
			}
		}
	}
	for _, s := range saved {
		if s.ConfigDigest == im.ID || s.Ref == im.ID {
			return s.ConfigDigest, nil
		}
	}
	return "", fmt.Errorf("image %s (%s) is not in the saved archive", im.ID, strings.Join(tags, ", "))
}
