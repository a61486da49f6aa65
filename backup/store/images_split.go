package store

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrImageArchive: an image archive (ImageSave's stream) that cannot be
// split into configs and layers as its manifest.json describes them — not
// a tar, a referenced file missing, or a config or layer whose sha256 is
// not its digest. Nothing of it is recorded under any digest.
var ErrImageArchive = errors.New("image archive does not match its digests")

// Limits of a split.
const (
	// splitSmall: entries up to this size are held in memory until
	// manifest.json says what they are (configs, the legacy layout's json
	// and VERSION files, small layers); larger ones stream into the store.
	splitSmall = 1 << 20
	// splitKept bounds the bytes held in memory (more streams into the store).
	splitKept = 64 << 20
	// splitManifest bounds manifest.json.
	splitManifest = 16 << 20
)

// ImageFile is an image's config or one of its layers, written into the
// store: Digest is what its content hashes to ("sha256:…": the config
// digest, or the layer's DiffID).
type ImageFile struct {
	Digest string
	FileResult
}

// SplitImage is one image of a split archive: its tags, config and layers
// in order (their Digests are the config's rootfs.diff_ids).
type SplitImage struct {
	ConfigDigest string
	RepoTags     []string
	Config       ImageFile
	Layers       []ImageFile
}

// ImageSplit splits an image archive into the store while it streams
// (Write): each file of the tar is hashed; large ones are cut into chunks
// and stored as they come, small ones held until manifest.json says which
// are configs and layers. Finish checks every config against its digest
// and every layer against its config's DiffIDs, and stores what is
// referenced and still held. Use it as the writer of an ImageSave stream.
type ImageSplit struct {
	ctx  context.Context
	w    *Writer
	pw   *io.PipeWriter
	done chan struct{}
	st   splitState
	err  error // the reader goroutine's error
}

// splitState is what the reader goroutine found.
type splitState struct {
	manifest []byte
	small    map[string][]byte     // entry name → content (held)
	stored   map[string]FileResult // entry name → written into the store
	links    map[string]string     // symlink or hard link name → target name
	kept     int64
}

// SplitImages starts splitting an image archive into the store through
// this writer (the writer is not used otherwise until Finish or Abort).
func (w *Writer) SplitImages(ctx context.Context) *ImageSplit {
	pr, pw := io.Pipe()
	s := &ImageSplit{ctx: ctx, w: w, pw: pw, done: make(chan struct{}),
		st: splitState{small: map[string][]byte{}, stored: map[string]FileResult{}, links: map[string]string{}}}
	go func() {
		defer close(s.done)
		s.err = s.read(pr)
		if s.err != nil {
			pr.CloseWithError(s.err)
			return
		}
		// The engine pads the tar after its end marker: drain it so the
		// stream's writer never blocks.
		if _, err := io.Copy(io.Discard, pr); err != nil {
			s.err = err
		}
	}()
	return s
}

// Write feeds the archive's bytes.
func (s *ImageSplit) Write(p []byte) (int, error) { return s.pw.Write(p) }

// Abort ends a split whose stream failed; nothing is returned.
func (s *ImageSplit) Abort(err error) {
	s.pw.CloseWithError(err)
	<-s.done
}

// read walks the tar: regular files are held or stored, links remembered.
func (s *ImageSplit) read(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := s.ctx.Err(); err != nil {
			return context.Cause(s.ctx)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return archiveErr("not a tar: %v", err)
		}
		name := entryName(h.Name)
		switch h.Typeflag {
		case tar.TypeReg:
			if err := s.file(name, h.Size, tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			s.st.links[name] = path.Join(path.Dir(name), h.Linkname)
		case tar.TypeLink:
			s.st.links[name] = entryName(h.Linkname)
		}
	}
}

// file holds or stores one regular file.
func (s *ImageSplit) file(name string, size int64, r io.Reader) error {
	st := &s.st
	delete(st.small, name)
	delete(st.stored, name)
	delete(st.links, name)
	switch {
	case name == "manifest.json":
		if size > splitManifest {
			return archiveErr("manifest.json is %d bytes", size)
		}
		b, err := io.ReadAll(r)
		st.manifest = b
		return err
	case size <= splitSmall && st.kept+size <= splitKept:
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		st.small[name] = b
		st.kept += int64(len(b))
		return nil
	}
	res, err := s.w.writeFile(s.ctx, r, true)
	if err != nil {
		return err
	}
	st.stored[name] = res
	return nil
}

// entryName normalizes a tar entry name or a path inside the archive.
func entryName(n string) string {
	n = path.Clean(strings.TrimLeft(n, "/"))
	if n == "." {
		return ""
	}
	return n
}

// archiveEntry is one image of manifest.json.
type archiveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Finish ends the stream (it must be complete: the caller validated it)
// and returns the archive's images with their configs and layers in the
// store. A config whose sha256 is not its digest, or a layer whose sha256
// is not its config's DiffID, fails with ErrImageArchive naming both.
func (s *ImageSplit) Finish() ([]SplitImage, error) {
	s.pw.Close()
	<-s.done
	if s.err != nil {
		return nil, s.err
	}
	if s.st.manifest == nil {
		return nil, archiveErr("the archive has no manifest.json")
	}
	var entries []archiveEntry
	if err := json.Unmarshal(s.st.manifest, &entries); err != nil {
		return nil, archiveErr("manifest.json: %v", err)
	}
	out := make([]SplitImage, 0, len(entries))
	for i, e := range entries {
		im, err := s.image(e)
		if err != nil {
			label := strings.Join(e.RepoTags, ", ")
			if label == "" {
				label = "config " + e.Config
			}
			return nil, fmt.Errorf("image %d of manifest.json (%s): %w", i+1, label, err)
		}
		out = append(out, im)
	}
	return out, nil
}

// imageConfig is the part of an image config that is checked.
type imageConfig struct {
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// image checks and stores one image of manifest.json.
func (s *ImageSplit) image(e archiveEntry) (SplitImage, error) {
	im := SplitImage{RepoTags: e.RepoTags}
	cfgName, err := s.resolve(e.Config)
	if err != nil {
		return im, fmt.Errorf("config %s: %w", e.Config, err)
	}
	data, ok := s.st.small[cfgName]
	if !ok {
		return im, archiveErr("config %s is larger than %d bytes", e.Config, splitSmall)
	}
	sum := sha256.Sum256(data)
	im.ConfigDigest = "sha256:" + hex.EncodeToString(sum[:])
	if d := digestOfName(cfgName); d != "" && d != im.ConfigDigest {
		return im, archiveErr("config %s has sha256 %s, its name says %s", e.Config, im.ConfigDigest, d)
	}
	var cfg imageConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return im, archiveErr("config %s: %v", e.Config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return im, archiveErr("the config lists %d layers (diff_ids), manifest.json %d", len(cfg.RootFS.DiffIDs), len(e.Layers))
	}
	if im.Config, err = s.store(cfgName, im.ConfigDigest); err != nil {
		return im, err
	}
	for i, l := range e.Layers {
		name, err := s.resolve(l)
		if err != nil {
			return im, fmt.Errorf("layer %d (%s): %w", i+1, l, err)
		}
		f, err := s.store(name, cfg.RootFS.DiffIDs[i])
		if err != nil {
			return im, fmt.Errorf("layer %d (%s): %w", i+1, l, err)
		}
		im.Layers = append(im.Layers, f)
	}
	return im, nil
}

// store returns the file held or stored under name, stored now if held,
// after checking that its sha256 is digest.
func (s *ImageSplit) store(name, digest string) (ImageFile, error) {
	st := &s.st
	if res, ok := st.stored[name]; ok {
		if "sha256:"+res.PlainSHA256 != digest {
			return ImageFile{}, archiveErr("its content has sha256 %s, not its digest %s: it does not match its image", res.PlainSHA256, digest)
		}
		return ImageFile{Digest: digest, FileResult: res}, nil
	}
	data, ok := st.small[name]
	if !ok {
		return ImageFile{}, archiveErr("%s is not in the archive", name)
	}
	if sum := sha256.Sum256(data); "sha256:"+hex.EncodeToString(sum[:]) != digest {
		return ImageFile{}, archiveErr("its content has sha256 %s, not its digest %s: it does not match its image", hex.EncodeToString(sum[:]), digest)
	}
	res, err := s.w.writeFile(s.ctx, bytes.NewReader(data), true)
	if err != nil {
		return ImageFile{}, err
	}
	st.stored[name] = res
	delete(st.small, name)
	return ImageFile{Digest: digest, FileResult: res}, nil
}

// resolve follows links from a path of manifest.json to a regular file.
func (s *ImageSplit) resolve(p string) (string, error) {
	name := entryName(p)
	for range 16 {
		if _, ok := s.st.stored[name]; ok {
			return name, nil
		}
		if _, ok := s.st.small[name]; ok {
			return name, nil
		}
		t, ok := s.st.links[name]
		if !ok {
			return "", archiveErr("%s is not in the archive", name)
		}
		name = entryName(t)
	}
	return "", archiveErr("%s is a chain of too many links", p)
}

// archiveError is an archive that does not match its digests: it
// matches ErrImageArchive; its message says what differs.
type archiveError struct{ msg string }

func (e *archiveError) Error() string        { return e.msg }
func (e *archiveError) Is(target error) bool { return target == ErrImageArchive }

func archiveErr(format string, a ...any) error {
	return &archiveError{msg: fmt.Sprintf(format, a...)}
}

// digestOfName is the digest a config's name states ("<hex>.json",
// "blobs/sha256/<hex>"), or "".
func digestOfName(name string) string {
	if h, ok := strings.CutSuffix(name, ".json"); ok && !strings.Contains(h, "/") && isHex64(h) {
		return "sha256:" + h
	}
	if h, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && isHex64(h) {
		return "sha256:" + h
	}
	return ""
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
