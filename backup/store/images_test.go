package store_test

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
	"testing"

	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// testImage is an image of a fake docker save archive.
type testImage struct {
	tags   []string
	layers [][]byte // layer tars
	config []byte
}

func layerTar(t *testing.T, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	return buf.Bytes()
}

func newTestImage(tags []string, layers ...[]byte) testImage {
	var ids []string
	for _, l := range layers {
		ids = append(ids, digestOf(l))
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{"Labels": map[string]string{"tags": fmt.Sprint(tags)}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": ids}})
	return testImage{tags: tags, layers: layers, config: cfg}
}

// saveArchive writes images as Engine 20.10's ImageSave does: a directory
// per layer (named by a v1 id, here the layer's own digest salted) holding
// layer.tar, json and VERSION; a layer already written is a symlink; the
// configs as <hex>.json; manifest.json and repositories last; zero padding.
func saveArchive(t *testing.T, images ...testImage) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(h *tar.Header, data []byte) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	var man []map[string]any
	seen := map[string]string{}
	for i, im := range images {
		var paths []string
		for j, l := range im.layers {
			v1 := digestOf([]byte(fmt.Sprintf("v1-%d-%d", i, j)))[7:]
			put(&tar.Header{Name: v1 + "/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
			if prev, ok := seen[digestOf(l)]; ok {
				put(&tar.Header{Name: v1 + "/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../" + prev + "/layer.tar"}, nil)
			} else {
				put(&tar.Header{Name: v1 + "/layer.tar", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(l))}, l)
				seen[digestOf(l)] = v1
			}
			js := []byte(`{"id":"` + v1 + `"}`)
			put(&tar.Header{Name: v1 + "/json", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(js))}, js)
			put(&tar.Header{Name: v1 + "/VERSION", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}, []byte("1.0"))
			paths = append(paths, v1+"/layer.tar")
		}
		cfg := digestOf(im.config)[7:] + ".json"
		put(&tar.Header{Name: cfg, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(im.config))}, im.config)
		man = append(man, map[string]any{"Config": cfg, "RepoTags": im.tags, "Layers": paths})
	}
	mj, _ := json.Marshal(man)
	put(&tar.Header{Name: "manifest.json", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(mj))}, mj)
	put(&tar.Header{Name: "repositories", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}, []byte("{}"))
	tw.Close()
	buf.Write(make([]byte, 10240)) // the engine's padding
	return buf.Bytes()
}

// split streams an archive into the store in odd-sized writes.
func split(t *testing.T, s *store.Store, archive []byte) ([]store.SplitImage, store.Stats, error) {
	t.Helper()
	ctx := context.Background()
	w := s.NewWriter()
	sp := w.SplitImages(ctx)
	for rest := archive; len(rest) > 0; {
		n := min(len(rest), 7777)
		if _, err := sp.Write(rest[:n]); err != nil {
			sp.Abort(err)
			return nil, w.Stats(), err
		}
		rest = rest[n:]
	}
	ims, err := sp.Finish()
	if err != nil {
		w.Abort(ctx)
		return nil, w.Stats(), err
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return ims, w.Stats(), nil
}

func archiveOf(s *store.Store, ims []store.SplitImage, omit map[string]bool) []store.ArchiveImage {
	file := func(f store.ImageFile) store.ArchiveFile {
		chunks := f.Chunks
		return store.ArchiveFile{Digest: f.Digest, Size: f.Size, Omit: omit[f.Digest],
			Open: func(ctx context.Context) (io.ReadCloser, error) { return s.OpenFile(ctx, chunks), nil }}
	}
	var out []store.ArchiveImage
	for _, im := range ims {
		a := store.ArchiveImage{RepoTags: im.RepoTags, Config: file(im.Config)}
		for _, l := range im.Layers {
			a.Layers = append(a.Layers, file(l))
		}
		out = append(out, a)
	}
	return out
}

// readArchive lists an archive's regular files and manifest.
func readArchive(t *testing.T, data []byte) (map[string][]byte, []map[string]any) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = b
		}
	}
	var man []map[string]any
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil {
		t.Fatal(err)
	}
	return files, man
}

// An archive splits into configs and layers named by their digests (a
// shared layer once, links followed, the legacy json/VERSION files left
// out), and the store assembles an archive from them that the image
// validator accepts, leaving out omitted layers.
func TestImageSplitAndAssemble(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	base := layerTar(t, "base.bin", randBytes(1, 3<<19))
	small := layerTar(t, "small.txt", []byte("hello"))
	top := layerTar(t, "top.bin", randBytes(2, 3<<19))
	a := newTestImage([]string{"app:1"}, base, small)
	b := newTestImage([]string{"worker:1", "worker:latest"}, base, top)
	ims, st, err := split(t, s, saveArchive(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 2 || ims[0].ConfigDigest != digestOf(a.config) || ims[1].ConfigDigest != digestOf(b.config) {
		t.Fatalf("images: %+v", ims)
	}
	for i, im := range []testImage{a, b} {
		for j, l := range im.layers {
			if f := ims[i].Layers[j]; f.Digest != digestOf(l) || f.Size != int64(len(l)) {
				t.Errorf("image %d layer %d: %s %d", i, j, f.Digest, f.Size)
			}
		}
	}
	// The layers once, the configs, nothing else — less a chunk base and
	// top may share: their tars end in the same zero bytes (the archive's
	// trailer), which the store holds once when a chunk boundary of the
	// store's random chunker polynomial falls inside them.
	want := int64(len(base) + len(small) + len(top) + len(a.config) + len(b.config))
	if shared := commonSuffix(base, top); st.NewRawBytes > want || st.NewRawBytes < want-shared {
		t.Errorf("stored %d plaintext bytes, want %d (the layers once, the configs, nothing else) less at most the %d bytes base and top end with alike", st.NewRawBytes, want, shared)
	}

	out := &bytes.Buffer{}
	n, err := store.WriteImageArchive(ctx, out, archiveOf(s, ims, map[string]bool{digestOf(base): true}), store.ArchiveOptions{})
	if err != nil || n != int64(out.Len()) {
		t.Fatalf("assemble: %d %v", n, err)
	}
	files, man := readArchive(t, out.Bytes())
	if _, ok := files[store.ArchiveLayerName(digestOf(base))]; ok {
		t.Error("the omitted layer is in the archive")
	}
	if !bytes.Equal(files[store.ArchiveLayerName(digestOf(top))], top) || !bytes.Equal(files[store.ArchiveConfigName(digestOf(b.config))], b.config) {
		t.Error("a layer or config differs")
	}
	if len(man) != 2 || len(man[1]["Layers"].([]any)) != 2 || fmt.Sprint(man[1]["RepoTags"]) != "[worker:1 worker:latest]" {
		t.Errorf("manifest.json: %v", man)
	}
	// Nothing omitted: a complete archive, as docker load -i takes it.
	out.Reset()
	if _, err := store.WriteImageArchive(ctx, out, archiveOf(s, ims, nil), store.ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	arch, err := tarcheck.ValidateImageArchive(ctx, bytes.NewReader(out.Bytes()))
	if err != nil || len(arch.Images) != 2 || arch.Images[0].ConfigDigest != digestOf(a.config) {
		t.Fatalf("validate the assembled archive: %v %+v", err, arch)
	}
	// A second split of the same archive stores nothing new.
	if _, st, err := split(t, s, saveArchive(t, a, b)); err != nil || st.NewRawBytes != 0 {
		t.Fatalf("second split: %+v %v", st, err)
	}
}

// A layer whose content is not its DiffID (a byte flipped in transit)
// fails the split with ErrImageArchive naming the layer; so does a config
// whose sha256 is not its name.
func TestImageSplitMismatch(t *testing.T) {
	s := openStore(t, t.TempDir())
	big := layerTar(t, "big.bin", randBytes(3, 2<<20))
	im := newTestImage([]string{"app:1"}, big)
	arch := saveArchive(t, im)
	i := bytes.Index(arch, big[1<<20:1<<20+64])
	if i < 0 {
		t.Fatal("layer not found in the archive")
	}
	arch[i+10] ^= 0x40
	_, _, err := split(t, s, arch)
	if !errors.Is(err, store.ErrImageArchive) || !bytes.Contains([]byte(err.Error()), []byte(digestOf(big))) {
		t.Fatalf("flipped layer: %v", err)
	}
	arch = saveArchive(t, im)
	j := bytes.Index(arch, im.config)
	arch[j+2] ^= 0x01 // inside a JSON key: still JSON-ish, wrong digest
	if _, _, err := split(t, s, arch); !errors.Is(err, store.ErrImageArchive) {
		t.Fatalf("flipped config: %v", err)
	}
	if _, _, err := split(t, s, []byte("not a tar at all, certainly not")); !errors.Is(err, store.ErrImageArchive) {
		t.Fatalf("not a tar: %v", err)
	}
}

// The assembler checks every file against its digest as it streams.
func TestImageAssembleDamaged(t *testing.T) {
	ctx := context.Background()
	layer := []byte("layer content")
	cfg := []byte(`{"rootfs":{"diff_ids":["` + digestOf(layer) + `"]}}`)
	open := func(b []byte) func(context.Context) (io.ReadCloser, error) {
		return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	im := store.ArchiveImage{Config: store.ArchiveFile{Digest: digestOf(cfg), Size: int64(len(cfg)), Open: open(cfg)},
		Layers: []store.ArchiveFile{{Digest: digestOf(layer), Size: int64(len(layer)), Open: open([]byte("layer contenT"))}}}
	if _, err := store.WriteImageArchive(ctx, io.Discard, []store.ArchiveImage{im}, store.ArchiveOptions{}); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("altered layer: %v", err)
	}
	im.Layers[0].Open = open([]byte("layer"))
	if _, err := store.WriteImageArchive(ctx, io.Discard, []store.ArchiveImage{im}, store.ArchiveOptions{}); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("short layer: %v", err)
	}
	// A Checked file (its reader checks its chunks) is checked for its
	// size only: its digest is not computed again.
	im.Layers[0].Checked = true
	if _, err := store.WriteImageArchive(ctx, io.Discard, []store.ArchiveImage{im}, store.ArchiveOptions{}); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("short checked layer: %v", err)
	}
	im.Layers[0].Open = open([]byte("layer contenT"))
	if _, err := store.WriteImageArchive(ctx, io.Discard, []store.ArchiveImage{im}, store.ArchiveOptions{}); err != nil {
		t.Fatalf("checked layer: %v", err)
	}
}

// commonSuffix is the length of the bytes a and b end with alike.
func commonSuffix(a, b []byte) int64 {
	n := 0
	for n < len(a) && n < len(b) && a[len(a)-1-n] == b[len(b)-1-n] {
		n++
	}
	return int64(n)
}
