package tarcheck

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
)

const (
	maxSmallJSON = 1 << 20  // blobs up to this size that start with '{' are parsed
	maxKept      = 32 << 20 // total metadata kept in memory
	nameCost     = 64       // accounted per remembered entry name, besides its length
	maxIndexNest = 8        // nested OCI indexes followed at most this deep
	maxLinkHops  = 16       // symlink/hard-link chains followed at most this long
)

// Names of the top-level files of an image archive.
const (
	manifestFile = "manifest.json"
	indexFile    = "index.json"
	reposFile    = "repositories"
	layoutFile   = "oci-layout"
)

// descriptor is the part of an OCI content descriptor that is checked.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

func (p *platform) String() string {
	if p == nil || p.OS == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// smallJSON is any small JSON blob: an OCI manifest, an OCI index or an image
// config (only the fields used here are decoded).
type smallJSON struct {
	Config       *descriptor  `json:"config"`
	Layers       []descriptor `json:"layers"`
	Manifests    []descriptor `json:"manifests"`
	OS           string       `json:"os"`
	Architecture string       `json:"architecture"`
	Variant      string       `json:"variant"`
}

// blobInfo is what is kept of a small JSON blob.
type blobInfo struct {
	manifest  bool         // an OCI/Docker image manifest: config + layers
	index     bool         // an OCI index / manifest list: manifests
	config    string       // manifest: config digest
	layers    []descriptor // manifest: layers (digest and media type only)
	manifests []descriptor // index
	platform  string       // image config: "os/arch[/variant]"
}

// outside marks a symlink target that is not inside the archive.
const outside = "\x00"

// imageScan is the state of ValidateImageArchive: entry names and the
// metadata it keeps, all accounted against maxKept.
type imageScan struct {
	*scanner
	files    map[string]int64     // regular files (and hard links to them): name → size
	symlinks map[string]string    // symlink name → target as an archive path (outside+raw target when it leaves the archive)
	hard     map[string]string    // hard link name → target
	blobs    map[string]*blobInfo // regular file name → parsed small JSON blob
	top      map[string][]byte    // manifest.json, index.json, repositories, oci-layout
	kept     int64
	blobBuf  []byte
	nfiles   int
}

// ValidateImageArchive reads r to its end and checks that it is a complete
// image archive as the Engine's ImageSave (docker save) writes it, while the
// caller streams the same bytes to disk (io.TeeReader). It checks:
//   - tar headers are well-formed and every entry's data is fully present;
//   - the tar end-of-archive marker (two zero blocks) is present and only zero
//     bytes follow it; a JSON error appended by the engine is reported with the
//     engine's message ("engine error appended to the archive: ...");
//   - manifest.json is present, valid JSON and lists at least one image, whose
//     Config and every Layers path are present as regular files, or as
//     symlinks / hard links to present files (docker ≤ 24 stores a layer shared
//     by two layer IDs as a symlink "<id>/layer.tar" → "../<other>/layer.tar");
//   - if index.json is present: every manifest and nested index it references is
//     present, and each present manifest's config and layers are present, except
//     for entries of another platform that manifest.json does not need (the
//     containerd image store exports indexes listing platforms it never pulled);
//     those are tolerated and listed in MissingPlatforms.
//
// All failures wrap ErrIncomplete and say what is missing where; messages do
// not name the file, so callers prefix it ("images.tar: ..."). A cancelled ctx
// (checked before every read) returns an error wrapping ctx.Err() instead; a
// read blocked inside r is not interrupted (close r to stop it).
//
// Memory is bounded: entry data is read through a fixed buffer; only the
// names and sizes of entries, manifest.json, index.json, repositories,
// oci-layout and the parsed essentials of small JSON blobs (≤ 1 MiB, starting
// with '{') under blobs/ are kept, at most 32 MiB in total (more is an error).
// Because manifest.json usually comes near the end, the cross-checks run when
// the stream has ended. On a failure, reading stops; Bytes tells how far it got.
func ValidateImageArchive(ctx context.Context, r io.Reader) (ImageArchive, error) {
	s := &imageScan{
		scanner:  newScanner(ctx, r, "image archive", "the engine stopped sending (truncated export)"),
		files:    map[string]int64{},
		symlinks: map[string]string{},
		hard:     map[string]string{},
		blobs:    map[string]*blobInfo{},
		top:      map[string][]byte{},
	}
	var res ImageArchive
	err := s.scan()
	if err == nil {
		res, err = s.check()
	}
	res.Bytes = s.cr.n
	res.Files = s.nfiles
	return res, err
}

// ArchivePath normalizes an entry name or a path inside the archive: a
// member's name as an untar places it (cleaned, relative), "" for the
// archive's root.
func ArchivePath(name string) string {
	name = strings.TrimLeft(name, "/")
	p := path.Clean(name)
	if p == "." {
		return ""
	}
	return p
}

func (s *imageScan) keep(n int64, what string) error {
	s.kept += n
	if s.kept > maxKept {
		return incomplete(nil, "image archive holds more than %s of metadata to cross-check (at %s; %s): not an image archive this tool can validate",
			humanBytes(maxKept), what, s.where())
	}
	return nil
}

func (s *imageScan) scan() error {
	for {
		h, err := s.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := ArchivePath(h.Name)
		if err := s.keep(int64(len(name))+nameCost, fmt.Sprintf("entry %q", h.Name)); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
			s.nfiles++
			s.files[name] = h.Size
			delete(s.symlinks, name)
			delete(s.hard, name)
			if err := s.entryData(name, h); err != nil {
				return err
			}
			continue
		case tar.TypeSymlink:
			t := path.Join(path.Dir(name), h.Linkname)
			if strings.HasPrefix(h.Linkname, "/") || t == ".." || strings.HasPrefix(t, "../") {
				t = outside + h.Linkname // absolute or climbing out: not inside the archive
			}
			s.symlinks[name] = t
			delete(s.files, name)
			delete(s.hard, name)
			if err := s.keep(int64(len(t)), fmt.Sprintf("entry %q", h.Name)); err != nil {
				return err
			}
		case tar.TypeLink:
			t := ArchivePath(h.Linkname)
			s.hard[name] = t
			delete(s.files, name)
			delete(s.symlinks, name)
			if err := s.keep(int64(len(t)), fmt.Sprintf("entry %q", h.Name)); err != nil {
				return err
			}
		}
		if err := s.readData(nil); err != nil {
			return err
		}
	}
}

// entryData reads a regular file's data, keeping what the cross-checks need.
func (s *imageScan) entryData(name string, h *tar.Header) error {
	switch name {
	case manifestFile, indexFile, reposFile, layoutFile:
		if err := s.keep(h.Size, fmt.Sprintf("%s (%d bytes)", name, h.Size)); err != nil {
			return err
		}
		b, err := s.readAll(make([]byte, 0, h.Size))
		if err != nil {
			return err
		}
		if old := s.top[name]; old != nil { // a second copy replaces the first
			s.kept -= int64(len(old))
		}
		s.top[name] = b
		return nil
	}
	if !strings.HasPrefix(name, "blobs/") || h.Size <= 0 || h.Size > maxSmallJSON {
		return s.readData(nil)
	}
	b, err := s.readAll(s.blobBuf)
	s.blobBuf = b[:0]
	if err != nil {
		return err
	}
	delete(s.blobs, name)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var j smallJSON
	if json.Unmarshal(b, &j) != nil {
		return nil // not JSON: a layer or other data that happens to start with '{'
	}
	info := &blobInfo{}
	switch {
	case j.Config != nil && j.Config.Digest != "":
		info.manifest, info.config = true, j.Config.Digest
		for _, l := range j.Layers {
			info.layers = append(info.layers, descriptor{MediaType: l.MediaType, Digest: l.Digest})
		}
	case j.Manifests != nil:
		info.index = true
		info.manifests = j.Manifests
	case j.OS != "":
		info.platform = (&platform{OS: j.OS, Architecture: j.Architecture, Variant: j.Variant}).String()
		if err := s.keep(int64(len(info.platform))+nameCost, fmt.Sprintf("entry %q", h.Name)); err != nil {
			return err
		}
		s.blobs[name] = info
		return nil
	default:
		return nil
	}
	if err := s.keep(int64(len(b)), fmt.Sprintf("entry %q", h.Name)); err != nil {
		return err
	}
	s.blobs[name] = info
	return nil
}

// resolve follows symlinks and hard links from p to a regular file. It returns
// the file's name, or "" and a description of why p is not present.
func (s *imageScan) resolve(p string) (string, string) {
	p = ArchivePath(p)
	orig := p
	for range maxLinkHops {
		if _, ok := s.files[p]; ok {
			return p, ""
		}
		if t, ok := s.symlinks[p]; ok {
			if raw, ok := strings.CutPrefix(t, outside); ok {
				return "", fmt.Sprintf("is a symlink to %q, outside the archive", raw)
			}
			p = t
			continue
		}
		if t, ok := s.hard[p]; ok {
			p = t
			continue
		}
		if p != orig {
			return "", fmt.Sprintf("is a link to %s, which is missing", p)
		}
		return "", "is missing"
	}
	return "", fmt.Sprintf("is a chain of more than %d links", maxLinkHops)
}

// blobPath is where an OCI image layout stores the blob with digest d.
func blobPath(d string) (string, bool) {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || alg == "" || hex == "" || strings.ContainsAny(d, "/\\") || alg == "." || alg == ".." || hex == "." || hex == ".." {
		return "", false
	}
	return "blobs/" + alg + "/" + hex, true
}

// ConfigDigest is the config digest a manifest.json Config path states
// ("<hex>.json": sha256; "blobs/<alg>/<hex>"), "" when it states none.
func ConfigDigest(p string) string {
	p = ArchivePath(p)
	if rest, ok := strings.CutPrefix(p, "blobs/"); ok {
		if alg, hex, ok := strings.Cut(rest, "/"); ok && isDigestPart(alg) && isHex(hex) {
			return alg + ":" + hex
		}
		return ""
	}
	if hex, ok := strings.CutSuffix(p, ".json"); ok && isHex(hex) {
		return "sha256:" + hex
	}
	return ""
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigestPart(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '+' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// imageLabel names an image of manifest.json in messages.
func imageLabel(im ArchivedImage, i int) string {
	if len(im.RepoTags) > 0 {
		return strings.Join(im.RepoTags, ", ")
	}
	if im.ConfigDigest != "" {
		return "untagged image " + im.ConfigDigest
	}
	return fmt.Sprintf("entry %d", i+1)
}

// check runs the cross-checks once the whole stream has been read.
func (s *imageScan) check() (ImageArchive, error) {
	var res ImageArchive
	_, hasManifest := s.top[manifestFile]
	_, hasIndex := s.top[indexFile]
	switch {
	case hasManifest && hasIndex:
		res.Format = "docker+oci"
	case hasManifest:
		res.Format = "docker"
	case hasIndex:
		res.Format = "oci"
	}
	for _, f := range []string{reposFile, layoutFile} {
		if b, ok := s.top[f]; ok && !json.Valid(b) {
			return res, incomplete(nil, "%s in the image archive is not valid JSON (%d bytes): the archive is damaged", f, len(b))
		}
	}
	if !hasManifest {
		if hasIndex {
			return res, incomplete(nil, "manifest.json is missing from the image archive (it has an OCI index.json only; docker load on Engine 20.10 needs manifest.json)")
		}
		return res, incomplete(nil, "manifest.json is missing from the image archive (%d files, %s): not a docker save archive, or the export was cut short", s.nfiles, humanBytes(s.cr.n))
	}
	var items []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(s.top[manifestFile], &items); err != nil {
		return res, incomplete(err, "manifest.json in the image archive is not valid JSON (%v)", err)
	}
	if len(items) == 0 {
		return res, incomplete(nil, "manifest.json in the image archive lists no images")
	}
	for i, it := range items {
		im := ArchivedImage{ConfigDigest: ConfigDigest(it.Config), ConfigPath: it.Config, RepoTags: it.RepoTags, Layers: it.Layers}
		res.Images = append(res.Images, im)
		label := imageLabel(im, i)
		if it.Config == "" {
			return res, incomplete(nil, "manifest.json entry %d (%s) names no Config", i+1, label)
		}
		if _, why := s.resolve(it.Config); why != "" {
			return res, incomplete(nil, "config %s referenced by manifest.json for %s %s", it.Config, label, why)
		}
		for _, l := range it.Layers {
			if _, why := s.resolve(l); why != "" {
				return res, incomplete(nil, "layer %s referenced by manifest.json for %s %s", l, label, why)
			}
		}
	}
	if hasIndex {
		missing, err := s.checkIndex(res.Images)
		res.MissingPlatforms = missing
		if err != nil {
			return res, err
		}
	}
	return res, nil
}
