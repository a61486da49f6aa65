package store

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"
)

// ArchiveFile is an image's config or one of its layers, to be written
// into an image archive.
type ArchiveFile struct {
	// Digest is what the content hashes to ("sha256:…": the config digest,
	// the layer's DiffID); Size its length.
	Digest string
	Size   int64
	// Omit leaves a layer's file out of the archive (manifest.json still
	// names it): the engine has the layer, and ImageLoad reuses it.
	Omit bool
	// Open reads the content.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// Checked says every byte is checked elsewhere — by Open's reader (a
	// store file: each chunk against its sha256 id, in the order of a
	// chunk list that read back with the sha256 its manifest records,
	// Store.OpenFile) or by the archive's consumer (a layer going to an
	// engine that hashes it against its DiffID, Store.OpenFileTrusted):
	// the content's size is checked here, its digest not computed.
	Checked bool
}

// ArchiveImage is one image of an image archive.
type ArchiveImage struct {
	RepoTags []string
	Config   ArchiveFile
	Layers   []ArchiveFile
}

// ArchiveOptions configure WriteImageArchive.
type ArchiveOptions struct {
	// ModTime of the archive's entries. Default the Unix epoch.
	ModTime time.Time
}

// ArchiveConfigName and ArchiveLayerName are the names of an image's
// config and layers in an archive WriteImageArchive writes.
func ArchiveConfigName(digest string) string { return digestHex(digest) + ".json" }

// ArchiveLayerName: see ArchiveConfigName.
func ArchiveLayerName(diffID string) string { return digestHex(diffID) + "/layer.tar" }

func digestHex(d string) string { return strings.TrimPrefix(d, "sha256:") }

// WriteImageArchive writes an image archive of images to w in the layout
// `docker load` reads (docker save's): each config as <hex>.json, each
// layer once as <DiffID hex>/layer.tar (a layer every image omits is left
// out), then manifest.json. Every file's content is checked against its
// size and digest (only its size when Checked) while it streams: a
// difference fails the write with ErrDamaged. It returns the bytes written.
func WriteImageArchive(ctx context.Context, w io.Writer, images []ArchiveImage, o ArchiveOptions) (int64, error) {
	if o.ModTime.IsZero() {
		o.ModTime = time.Unix(0, 0)
	}
	cw := &countingWriter{w: w}
	aw := &archiveWriter{ctx: ctx, tw: tar.NewWriter(cw), mod: o.ModTime.UTC(), written: map[string]bool{}, buf: make([]byte, 256<<10)}
	needed := map[string]bool{}
	for _, im := range images {
		for _, l := range im.Layers {
			if !l.Omit {
				needed[l.Digest] = true
			}
		}
	}
	var man []archiveEntry
	for _, im := range images {
		e := archiveEntry{Config: ArchiveConfigName(im.Config.Digest), RepoTags: im.RepoTags, Layers: []string{}}
		if err := aw.file(e.Config, im.Config); err != nil {
			return cw.n, err
		}
		for _, l := range im.Layers {
			name := ArchiveLayerName(l.Digest)
			e.Layers = append(e.Layers, name)
			if !needed[l.Digest] {
				continue
			}
			if err := aw.dir(digestHex(l.Digest) + "/"); err != nil {
				return cw.n, err
			}
			if err := aw.file(name, l); err != nil {
				return cw.n, err
			}
		}
		man = append(man, e)
	}
	data, err := json.Marshal(man)
	if err != nil {
		return cw.n, err
	}
	if err := aw.header(&tar.Header{Typeflag: tar.TypeReg, Name: "manifest.json", Size: int64(len(data)), Mode: 0o644}); err != nil {
		return cw.n, err
	}
	if _, err := aw.tw.Write(data); err != nil {
		return cw.n, err
	}
	if err := aw.tw.Close(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// archiveWriter writes the entries of an image archive, each once.
type archiveWriter struct {
	ctx     context.Context
	tw      *tar.Writer
	mod     time.Time
	written map[string]bool
	buf     []byte
}

func (a *archiveWriter) header(h *tar.Header) error {
	h.ModTime, h.Uname, h.Gname = a.mod, "", ""
	a.written[h.Name] = true
	return a.tw.WriteHeader(h)
}

func (a *archiveWriter) dir(name string) error {
	if a.written[name] {
		return nil
	}
	return a.header(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755})
}

// file writes one config or layer, checked against its size and digest.
func (a *archiveWriter) file(name string, f ArchiveFile) error {
	if a.written[name] {
		return nil
	}
	if err := a.ctx.Err(); err != nil {
		return context.Cause(a.ctx)
	}
	rc, err := f.Open(a.ctx)
	if err != nil {
		return fmt.Errorf("%s (%s): %w", name, f.Digest, err)
	}
	defer rc.Close()
	if err := a.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: f.Size, Mode: 0o644}); err != nil {
		return err
	}
	var h hash.Hash
	var src io.Reader = rc
	if !f.Checked {
		h = sha256.New()
		src = io.TeeReader(rc, h)
	}
	n, err := io.CopyBuffer(a.tw, src, a.buf)
	switch {
	case errors.Is(err, tar.ErrWriteTooLong):
		return fmt.Errorf("%w: %s (%s) is longer than its %d bytes", ErrDamaged, name, f.Digest, f.Size)
	case err != nil:
		return fmt.Errorf("%s (%s): %w", name, f.Digest, err)
	case n != f.Size:
		return fmt.Errorf("%w: %s (%s) is %d bytes, not %d", ErrDamaged, name, f.Digest, n, f.Size)
	}
	if h == nil {
		return nil
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != f.Digest {
		return fmt.Errorf("%w: %s has sha256 %s, not its digest %s", ErrDamaged, name, got, f.Digest)
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
