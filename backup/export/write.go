package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/internal/packdir"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

// write builds the exported pack in its partial directory and renames it
// complete; on failure the partial directory is removed.
func (e *exporter) write(ctx context.Context) (*Result, error) {
	spec := e.spec
	name := filepath.Base(e.src.Path())
	if _, err := os.Lstat(filepath.Join(spec.Target, name)); err == nil {
		return nil, &refusedError{fmt.Errorf("%w: %s", ErrExists, filepath.Join(spec.Target, name))}
	}
	out, err := packdir.Create(ctx, packdir.Options{Pin: e.pin, Name: name, Owner: spec.Owner, FileMode: spec.PackMode,
		DirMode: pack.DirMode(spec.PackMode), CheckBytes: spec.CheckBytes})
	if err != nil {
		return nil, err
	}
	e.out = out
	defer out.Close()
	res, err := e.fill(ctx, name)
	if err != nil {
		if rerr := out.Abort(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the partial export %s: %w", out.Partial(), rerr))
		}
		return nil, err
	}
	return res, nil
}

// fill writes the files, images.tar, the manifest and SHA256SUMS, then
// commits the pack.
func (e *exporter) fill(ctx context.Context, name string) (*Result, error) {
	m := e.m
	e.trk.SetTotal(e.size())
	var files []pack.FileEntry
	for _, f := range m.Files {
		if f.Kind == pack.FileImageConfig || f.Kind == pack.FileImageLayer {
			continue // into images.tar below
		}
		fe, err := e.copyFile(ctx, f)
		if err != nil {
			return nil, err
		}
		files = append(files, fe)
	}
	if m.ImagesByLayer() {
		fe, err := e.assembleImages(ctx)
		if err != nil {
			return nil, err
		}
		files = append(files, fe)
	}
	e.trk.PercentAt(progress.StepManifest, progress.PctManifest, e.t.T("export.progress.manifest"))
	man := e.manifest(name, files)
	hash, err := e.writeManifest(ctx, &man)
	if err != nil {
		return nil, err
	}
	e.trk.PercentAt(progress.StepFinalize, progress.PctFinalize, e.t.T("export.progress.finalize"))
	if err := e.out.Commit(ctx, nil); err != nil {
		return nil, err
	}
	return &Result{Pack: e.out.Final(), Name: name, PackageHash: hash, Source: e.src.Path(), SourceHash: e.hash,
		SourceFormat: m.FormatVersion, Files: len(files), Bytes: man.PackSize()}, nil
}

// stepOf is the progress step of a file kind.
func stepOf(k pack.FileKind) progress.Step {
	switch k {
	case pack.FileSQLite:
		return progress.StepSQLite
	case pack.FileImages:
		return progress.StepImages
	case pack.FileCompose:
		return progress.StepCompose
	}
	return progress.StepVolumes
}

// copyFile copies one file of the source (a store pack's from its chunks)
// and checks its size and sha256 against the source's manifest.
func (e *exporter) copyFile(ctx context.Context, f pack.FileEntry) (pack.FileEntry, error) {
	e.trk.Begin(stepOf(f.Kind), f.Path, f.Size, e.t.T("export.progress.file", f.Path, units.BytesSize(float64(f.Size))))
	// A sealed file is written as its plaintext, under the plaintext's name;
	// its reader checks the ciphertext against the source's manifest.
	rel := e.m.PlainPath(f.Path)
	n, sum, err := e.out.WriteFile(ctx, rel, e.trk.Writer, func(w io.Writer) error {
		rc, err := e.src.OpenFile(ctx, e.m, f)
		if err != nil {
			return sourceErr(f.Path, err)
		}
		defer rc.Close()
		_, err = io.Copy(w, &sourceReader{r: fsutil.ContextReader(ctx, rc), path: f.Path})
		return err
	})
	if err != nil {
		return pack.FileEntry{}, err
	}
	if e.m.Sealed() {
		return pack.FileEntry{Path: rel, Kind: f.Kind, Size: n, SHA256: sum}, nil
	}
	if n != f.Size || sum != f.SHA256 {
		return pack.FileEntry{}, fmt.Errorf("%w: %s read %d bytes with sha256 %s; its manifest says %d bytes, sha256 %s", ErrSource, f.Path, n, sum, f.Size, f.SHA256)
	}
	return pack.FileEntry{Path: f.Path, Kind: f.Kind, Size: n, SHA256: sum}, nil
}

// sourceReader marks what failed while reading the source.
type sourceReader struct {
	r    io.Reader
	path string
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = sourceErr(s.path, err)
	}
	return n, err
}

// sourceErr is a failed read of the source: ErrSource when its data is
// damaged (a chunk, a chunk list).
func sourceErr(p string, err error) error {
	if errors.Is(err, store.ErrDamaged) || errors.Is(err, pack.ErrChunkList) || errors.Is(err, pack.ErrSealedChanged) || errors.Is(err, seal.ErrDamaged) {
		return fmt.Errorf("%w: %s: %w", ErrSource, p, err)
	}
	return fmt.Errorf("read %s from the pack: %w", p, err)
}

// assembleImages writes images.tar from the images' configs and layers,
// each checked against its digest, the whole checked by the image-archive
// validator while it streams.
func (e *exporter) assembleImages(ctx context.Context) (pack.FileEntry, error) {
	m := e.m
	total := m.ImagesArchiveSize(m.Images, nil)
	e.trk.Begin(progress.StepImages, pack.ImagesFile, total, e.t.T("export.progress.images", len(m.Images), units.BytesSize(float64(total))))
	n, sum, err := e.out.WriteFile(ctx, pack.ImagesFile, e.trk.Writer, func(w io.Writer) error {
		pr, pw := io.Pipe()
		verr := make(chan error, 1)
		go func() {
			arch, err := tarcheck.ValidateImageArchive(ctx, pr)
			if err == nil {
				err = missingImages(m, arch)
			}
			pr.CloseWithError(errors.Join(err, errors.New("the validator stopped")))
			verr <- err
		}()
		_, err := e.src.WriteImages(ctx, m, m.Images, pack.WriteImagesOptions{}, io.MultiWriter(w, pw))
		pw.CloseWithError(err)
		if vErr := <-verr; err == nil && vErr != nil {
			err = fmt.Errorf("the assembled images.tar fails its check: %w", vErr)
		}
		if errors.Is(err, store.ErrDamaged) || errors.Is(err, pack.ErrChunkList) {
			err = fmt.Errorf("%w: %w", ErrSource, err)
		}
		return err
	})
	if err != nil {
		return pack.FileEntry{}, err
	}
	return pack.FileEntry{Path: pack.ImagesFile, Kind: pack.FileImages, Size: n, SHA256: sum}, nil
}

// missingImages says which images of m the archive lacks.
func missingImages(m *pack.Manifest, arch tarcheck.ImageArchive) error {
	var missing []string
	for _, im := range m.Images {
		if !slices.ContainsFunc(arch.Images, func(a tarcheck.ArchivedImage) bool { return a.ConfigDigest == im.ConfigDigest }) {
			missing = append(missing, im.ConfigDigest)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("images.tar lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// manifest is the exported pack's manifest: the source's, as format 1,
// listing the files written, its images in images.tar.
func (e *exporter) manifest(name string, files []pack.FileEntry) pack.Manifest {
	m := *e.m
	m.FormatVersion = pack.FormatVersion
	m.Store = nil
	m.Encryption = nil // written as plaintext
	m.Tool = pack.ToolInfo{Name: "dockpack", Version: backup.Version}
	slices.SortFunc(files, func(a, b pack.FileEntry) int { return strings.Compare(a.Path, b.Path) })
	m.Files = files
	m.Images = make([]pack.ImageEntry, len(e.m.Images))
	for i, im := range e.m.Images {
		im.Config, im.Layers = "", nil
		m.Images[i] = im
	}
	m.ExportedFrom = &pack.ExportSource{Pack: name, PackageHash: e.hash, FormatVersion: e.m.FormatVersion}
	return m
}

// writeManifest writes manifest.json and SHA256SUMS and returns the
// package hash.
func (e *exporter) writeManifest(ctx context.Context, m *pack.Manifest) (string, error) {
	if err := m.Validate(); err != nil {
		return "", fmt.Errorf("the exported manifest is inconsistent (a bug): %w", err)
	}
	data, err := pack.MarshalManifest(m)
	if err != nil {
		return "", err
	}
	_, hash, err := e.out.WriteFile(ctx, pack.ManifestFile, nil, func(w io.Writer) error { _, err := w.Write(data); return err })
	if err != nil {
		return "", err
	}
	sums := make([]pack.Sum, 0, len(m.Files)+1)
	for _, f := range m.Files {
		sums = append(sums, pack.Sum{SHA256: f.SHA256, Path: f.Path})
	}
	sums = append(sums, pack.Sum{SHA256: hash, Path: pack.ManifestFile})
	if _, _, err := e.out.WriteFile(ctx, pack.SumsFile, nil, func(w io.Writer) error { _, err := w.Write(pack.FormatSums(sums)); return err }); err != nil {
		return "", err
	}
	return hash, nil
}
