package tarcheck

import (
	"encoding/json"
	"fmt"
	"strings"
)

// absentRef is a descriptor reachable from index.json whose content (its
// blob, or a blob its manifest needs) is not in the archive.
type absentRef struct {
	d        descriptor
	topLevel bool   // listed directly by index.json
	what     string // for messages: what is missing
	config   string // the manifest's config digest, when the manifest is present
}

// checkIndex follows index.json (and nested indexes) and checks that every
// manifest it references, with its config and layers, is present, tolerating
// the platforms manifest.json does not need.
func (s *imageScan) checkIndex(images []ArchivedImage) ([]string, error) {
	var idx struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(s.top[indexFile], &idx); err != nil {
		return nil, incomplete(err, "index.json in the image archive is not valid JSON (%v)", err)
	}
	w := &indexWalk{s: s, present: map[string]bool{}, seen: map[string]bool{}}
	if err := w.walk(idx.Manifests, 0, true, "index.json"); err != nil {
		return nil, err
	}
	return judgeAbsent(w.absent, s.unaccounted(images, w.present), configDigests(images))
}

// indexWalk is the state of checkIndex's walk through index.json and the
// indexes it nests.
type indexWalk struct {
	s       *imageScan
	absent  []absentRef
	present map[string]bool // config digests of present, complete manifests
	seen    map[string]bool // digests already visited
}

// walk visits the descriptors ds listed by parent, depth indexes deep; top
// is true for those index.json lists itself.
func (w *indexWalk) walk(ds []descriptor, depth int, top bool, parent string) error {
	if depth > maxIndexNest {
		return incomplete(nil, "%s nests OCI indexes more than %d deep", parent, maxIndexNest)
	}
	for _, d := range ds {
		p, ok := blobPath(d.Digest)
		if !ok {
			return incomplete(nil, "%s lists an invalid digest %q", parent, d.Digest)
		}
		if w.seen[d.Digest] {
			continue
		}
		w.seen[d.Digest] = true
		if err := w.visit(d, p, depth, top, parent); err != nil {
			return err
		}
	}
	return nil
}

// visit checks the blob p of descriptor d: a nested index is walked, a
// manifest checked for its config and layers; what is absent is recorded.
func (w *indexWalk) visit(d descriptor, p string, depth int, top bool, parent string) error {
	file, why := w.s.resolve(p)
	if why != "" {
		w.absent = append(w.absent, absentRef{d: d, topLevel: top, what: fmt.Sprintf("%s %s referenced by %s %s", kindOf(d), p, parent, why)})
		return nil
	}
	info := w.s.blobs[file]
	switch {
	case info != nil && info.index:
		return w.walk(info.manifests, depth+1, false, "index "+p)
	case info != nil && info.manifest:
		if miss := w.s.manifestMissing(info); len(miss) > 0 {
			w.absent = append(w.absent, absentRef{d: d, topLevel: top, config: info.config,
				what: fmt.Sprintf("manifest %s referenced by %s is incomplete: %s", p, parent, strings.Join(miss, "; "))})
			return nil
		}
		w.present[info.config] = true
		return nil
	default:
		return incomplete(nil, "%s %s referenced by %s is not a JSON manifest or index (%d bytes)", kindOf(d), p, parent, w.s.files[file])
	}
}

// manifestMissing describes the config and (distributable) layers of a
// manifest that are not in the archive.
func (s *imageScan) manifestMissing(info *blobInfo) []string {
	var miss []string
	if cp, ok := blobPath(info.config); !ok {
		miss = append(miss, fmt.Sprintf("an invalid config digest %q", info.config))
	} else if _, why := s.resolve(cp); why != "" {
		miss = append(miss, "config "+cp+" "+why)
	}
	for _, l := range info.layers {
		if nonDistributable(l.MediaType) {
			continue
		}
		lp, ok := blobPath(l.Digest)
		if !ok {
			miss = append(miss, fmt.Sprintf("an invalid layer digest %q", l.Digest))
			continue
		}
		if _, why := s.resolve(lp); why != "" {
			miss = append(miss, "layer "+lp+" "+why)
		}
	}
	return miss
}

// imageNeed is a manifest.json entry that no present manifest accounts
// for, with the platform of its config when known ("" = unknown, matches
// any).
type imageNeed struct {
	label, platform string
}

// unaccounted lists the manifest.json images whose config no present
// manifest of the index names.
func (s *imageScan) unaccounted(images []ArchivedImage, present map[string]bool) []imageNeed {
	var needs []imageNeed
	for i, im := range images {
		if present[im.ConfigDigest] {
			continue
		}
		plat := ""
		if f, why := s.resolve(im.ConfigPath); why == "" && s.blobs[f] != nil {
			plat = s.blobs[f].platform
		}
		needs = append(needs, imageNeed{imageLabel(im, i), plat})
	}
	return needs
}

// configDigests is the set of the known config digests of images.
func configDigests(images []ArchivedImage) map[string]bool {
	out := map[string]bool{}
	for _, im := range images {
		if im.ConfigDigest != "" {
			out[im.ConfigDigest] = true
		}
	}
	return out
}

// judgeAbsent fails on the first absent reference that manifest.json needs
// (its config is one of inManJSON's), that index.json lists without a
// platform, or whose platform an unaccounted image may have; the others
// are tolerated and listed by platform (or digest), once each.
func judgeAbsent(absent []absentRef, needs []imageNeed, inManJSON map[string]bool) ([]string, error) {
	var missing []string
	have := map[string]bool{}
	for _, a := range absent {
		plat := a.d.Platform.String()
		if a.config != "" && inManJSON[a.config] {
			return nil, incomplete(nil, "%s (manifest.json needs it)", a.what)
		}
		if a.topLevel && a.d.Platform == nil {
			return nil, incomplete(nil, "%s%s", a.what, refName(a.d))
		}
		for _, n := range needs {
			if n.platform == "" || plat == "" || n.platform == plat {
				p := n.platform
				if p == "" {
					p = "platform unknown"
				}
				return nil, incomplete(nil, "%s%s; manifest.json's %s (%s) may need it", a.what, refName(a.d), n.label, p)
			}
		}
		name := plat
		if name == "" || strings.HasPrefix(name, "unknown/") {
			name = a.d.Digest
		}
		if !have[name] {
			have[name] = true
			missing = append(missing, name)
		}
	}
	return missing, nil
}

func kindOf(d descriptor) string {
	if isIndexType(d.MediaType) {
		return "index"
	}
	return "manifest"
}

func isIndexType(mt string) bool {
	return mt == "application/vnd.oci.image.index.v1+json" || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

func nonDistributable(mt string) bool {
	return strings.Contains(mt, "nondistributable") || strings.Contains(mt, "foreign")
}

func refName(d descriptor) string {
	for _, k := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
		if v := d.Annotations[k]; v != "" {
			return fmt.Sprintf(" (image %s)", v)
		}
	}
	if p := d.Platform.String(); p != "" {
		return fmt.Sprintf(" (platform %s)", p)
	}
	return ""
}
