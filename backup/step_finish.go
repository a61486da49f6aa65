package backup

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"go.uber.org/zap"
)

// manifest writes manifest.json and SHA256SUMS and returns the package hash.
func (r *runner) manifest(ctx context.Context) (string, error) {
	r.trk.PercentAt(progress.StepManifest, progress.PctManifest, r.t("job.manifest"))
	if r.store != nil {
		if err := r.finishStore(ctx); err != nil {
			return "", err
		}
	}
	r.man.Files = slices.Clone(r.files)
	slices.SortFunc(r.man.Files, func(a, b pack.FileEntry) int { return strings.Compare(a.Path, b.Path) })
	if err := r.man.Validate(); err != nil {
		return "", fmt.Errorf("the manifest this backup produced is inconsistent (a bug): %w", err)
	}
	data, err := pack.MarshalManifest(&r.man)
	if err != nil {
		return "", err
	}
	mf, err := r.writeFile(ctx, progress.StepManifest, pack.ManifestFile, pack.ManifestFile, pack.FileManifest, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return "", err
	}
	sums := make([]pack.Sum, 0, len(r.man.Files)+1)
	for _, f := range r.man.Files {
		sums = append(sums, pack.Sum{SHA256: f.SHA256, Path: f.Path})
	}
	if r.store != nil { // a store pack holds its chunk lists, not its files
		sums = slices.Clone(r.store.sums)
	}
	sums = append(sums, pack.Sum{SHA256: mf.SHA256, Path: pack.ManifestFile})
	if _, err := r.writeFile(ctx, progress.StepManifest, pack.SumsFile, pack.SumsFile, pack.FileManifest, func(w io.Writer) error {
		_, err := w.Write(pack.FormatSums(sums))
		return err
	}); err != nil {
		return "", err
	}
	return mf.SHA256, nil
}

// finalize makes every directory entry durable, re-checks the mount pin and
// renames the partial directory to its final name.
func (r *runner) finalize(ctx context.Context, hash string) error {
	r.trk.PercentAt(progress.StepFinalize, progress.PctFinalize, r.t("job.finalize"))
	final := r.dir.Final()
	if err := r.dir.Commit(ctx, func(ctx context.Context) error {
		if h := r.spec.Hooks.BeforeCommit; h != nil {
			return h(ctx, final, hash)
		}
		return nil
	}); err != nil {
		return err
	}
	if h := r.spec.Hooks.AfterCommit; h != nil {
		h(ctx, final)
	}
	r.log.Info("pack written", zap.String("pack", final), zap.String("size", units.BytesSize(float64(r.man.PackSize()))))
	return nil
}
