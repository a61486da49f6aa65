package tarcheck_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// entry is one tar entry of a test fixture. typ defaults to a regular file
// (or a directory when name ends in "/").
type entry struct {
	name string
	body string
	typ  byte
	link string
	hdr  func(h *tar.Header) // optional: adjust the header before writing
}

func file(name, body string) entry      { return entry{name: name, body: body} }
func dir(name string) entry             { return entry{name: name, typ: tar.TypeDir} }
func symlink(name, target string) entry { return entry{name: name, typ: tar.TypeSymlink, link: target} }
func hardlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeLink, link: target}
}

// built is a fixture tar with the offsets where each entry ends (after its
// padded data) and where the end-of-archive marker starts.
type built struct {
	data   []byte
	ends   []int // ends[i]: offset right after entry i's padded data
	marker int   // offset of the end-of-archive marker
}

// MustTar builds a tar of entries with archive/tar.
func MustTar(t testing.TB, entries ...entry) built {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var b built
	mtime := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, ModTime: mtime}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			if e.name[len(e.name)-1] == '/' {
				h.Typeflag = tar.TypeDir
			}
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.hdr != nil {
			e.hdr(h)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("MustTar: header %q: %v", e.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatalf("MustTar: data %q: %v", e.name, err)
			}
		}
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
		b.ends = append(b.ends, buf.Len())
	}
	b.marker = buf.Len()
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b.data = buf.Bytes()
	return b
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// layerTar is the content of a small layer (itself a tar).
func layerTar(t testing.TB, name string) string {
	return string(MustTar(t, file(name, "content of "+name+"\n")).data)
}

// legacyImage is the docker-save layout of Engine 20.10 (graph driver): two
// images sharing a base layer; the second layer ID of image b has the same
// diff as a's top layer and is stored as a symlink, as docker ≤ 24 does.
type legacyImage struct {
	entries                  []entry
	cfgA, cfgB               string // config hex
	idBase, idA, idB, idBDup string
}

func MustLegacy(t testing.TB) legacyImage {
	t.Helper()
	var l legacyImage
	base, top := layerTar(t, "base"), layerTar(t, "top")
	l.idBase, l.idA, l.idB, l.idBDup = sha("v1-base"), sha("v1-a"), sha("v1-b"), sha("v1-b-dup")
	cfgA := mustJSON(t, map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sha(base), "sha256:" + sha(top)}}})
	cfgB := mustJSON(t, map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{"Cmd": []string{"b"}}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sha(base), "sha256:" + sha(top)}}})
	l.cfgA, l.cfgB = sha(cfgA), sha(cfgB)
	layerDir := func(id, layer string) []entry {
		return []entry{dir(id + "/"), file(id+"/VERSION", "1.0"), file(id+"/json", `{"id":"`+id+`"}`), file(id+"/layer.tar", layer)}
	}
	l.entries = append(l.entries, layerDir(l.idBase, base)...)
	l.entries = append(l.entries, layerDir(l.idA, top)...)
	l.entries = append(l.entries, dir(l.idBDup+"/"), file(l.idBDup+"/VERSION", "1.0"), file(l.idBDup+"/json", "{}"),
		symlink(l.idBDup+"/layer.tar", "../"+l.idA+"/layer.tar"))
	l.entries = append(l.entries,
		file(l.cfgA+".json", cfgA),
		file(l.cfgB+".json", cfgB),
		file("manifest.json", mustJSON(t, []map[string]any{
			{"Config": l.cfgA + ".json", "RepoTags": []string{"app:1"}, "Layers": []string{l.idBase + "/layer.tar", l.idA + "/layer.tar"}},
			{"Config": l.cfgB + ".json", "RepoTags": []string{"app:2", "app:latest"}, "Layers": []string{l.idBase + "/layer.tar", l.idBDup + "/layer.tar"}},
		})),
		file("repositories", `{"app":{"1":"`+l.idA+`","2":"`+l.idBDup+`"}}`+"\n"),
	)
	return l
}

// ociImage is the layout of docker ≥ 25 with the containerd image store: an
// index.json pointing at an image index that lists linux/amd64 (present),
// linux/arm64 (absent: never pulled) and an attestation manifest (absent),
// plus manifest.json for the present platform.
type ociImage struct {
	entries                        []entry
	config, layer, manifest, index string // digests (hex)
	arm64, attest                  string
}

// ociVariant changes MustOCI's fixture.
type ociVariant int

const (
	ociPlain           ociVariant = iota
	ociArm64Manifest              // the arm64 manifest blob is present, its config and layer are not
	ociAmd64ExtraLayer            // the amd64 manifest lists a layer that is absent
)

func MustOCI(t testing.TB, variant ...ociVariant) ociImage {
	t.Helper()
	var o ociImage
	v := ociPlain
	if len(variant) > 0 {
		v = variant[0]
	}
	layer := layerTar(t, "oci-layer")
	config := mustJSON(t, map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sha(layer)}}})
	mkManifest := func(config string, layers ...string) string {
		var ls []any
		for _, l := range layers {
			ls = append(ls, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + sha(l), "size": len(l)})
		}
		return mustJSON(t, map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(config), "size": len(config)},
			"layers": ls,
		})
	}
	manifest := mkManifest(config, layer)
	if v == ociAmd64ExtraLayer {
		manifest = mkManifest(config, layer, "absent layer")
	}
	o.arm64, o.attest = sha("arm64 manifest never pulled"), sha("attestation manifest")
	var armManifest string
	if v == ociArm64Manifest {
		armManifest = mkManifest(`{"architecture":"arm64","os":"linux"}`, "arm64 layer")
		o.arm64 = sha(armManifest)
	}
	index := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{
			map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest), "size": len(manifest), "platform": map[string]any{"architecture": "amd64", "os": "linux"}},
			map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + o.arm64, "size": 1234, "platform": map[string]any{"architecture": "arm64", "os": "linux", "variant": "v8"}},
			map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + o.attest, "size": 567, "platform": map[string]any{"architecture": "unknown", "os": "unknown"},
				"annotations": map[string]string{"vnd.docker.reference.type": "attestation-manifest"}},
		},
	})
	o.config, o.layer, o.manifest, o.index = sha(config), sha(layer), sha(manifest), sha(index)
	o.entries = []entry{
		dir("blobs/"), dir("blobs/sha256/"),
		file("blobs/sha256/"+o.config, config),
		file("blobs/sha256/"+o.index, index),
		file("blobs/sha256/"+o.layer, layer),
		file("blobs/sha256/"+o.manifest, manifest),
		file("index.json", mustJSON(t, map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
			"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + o.index, "size": len(index),
				"annotations": map[string]string{"io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1"}}},
		})),
		file("manifest.json", mustJSON(t, []map[string]any{
			{"Config": "blobs/sha256/" + o.config, "RepoTags": []string{"app:1"}, "Layers": []string{"blobs/sha256/" + o.layer}},
		})),
		file("oci-layout", `{"imageLayoutVersion": "1.0.0"}`),
	}
	if armManifest != "" {
		o.entries = append(o.entries, file("blobs/sha256/"+o.arm64, armManifest))
	}
	return o
}

// without returns entries minus those named.
func without(entries []entry, names ...string) []entry {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []entry
	for _, e := range entries {
		if !drop[e.name] {
			out = append(out, e)
		}
	}
	return out
}

// replace returns entries with the one named replaced by e.
func replace(entries []entry, name string, e entry) []entry {
	out := append([]entry(nil), entries...)
	for i := range out {
		if out[i].name == name {
			out[i] = e
			return out
		}
	}
	panic(fmt.Sprintf("replace: no entry %q", name))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// engineJSON is the error the Engine appends to an ImageSave body that fails
// after the first byte (streamformatter.FormatError).
func engineJSON(msg string) []byte {
	var m struct {
		ErrorDetail struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
		Error string `json:"error"`
	}
	m.ErrorDetail.Message, m.Error = msg, msg
	b, _ := json.Marshal(m)
	return append(b, '\r', '\n')
}
