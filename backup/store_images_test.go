package backup_test

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
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/export"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

// layersEngine is the fake engine that also tells images' layers.
type layersEngine struct {
	*backuptest.Engine
	layers map[string]dockerapi.ImageLayers
}

func (e layersEngine) ImageLayers(_ context.Context, ref string) (dockerapi.ImageLayers, error) {
	il, ok := e.layers[ref]
	if !ok {
		return il, fmt.Errorf("%w: %s", dockerapi.ErrImageNotFound, ref)
	}
	return il, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// fakeImage is an image of a fake ImageSave archive: layer tars and config.
type fakeImage struct {
	tags   []string
	layers [][]byte
	config []byte
}

func newFakeImage(tags []string, layers ...[]byte) fakeImage {
	var ids []string
	for _, l := range layers {
		ids = append(ids, sha(l))
	}
	cfg, _ := json.Marshal(map[string]any{"os": "linux", "architecture": "amd64", "rootfs": map[string]any{"type": "layers", "diff_ids": ids},
		"config": map[string]any{"Labels": map[string]string{"t": fmt.Sprint(tags)}}})
	return fakeImage{tags: tags, layers: layers, config: cfg}
}

func (f fakeImage) id() string { return sha(f.config) }

func (f fakeImage) layersInfo() dockerapi.ImageLayers {
	il := dockerapi.ImageLayers{ID: f.id(), ConfigDigest: f.id(), RepoTags: f.tags}
	for _, l := range f.layers {
		il.DiffIDs = append(il.DiffIDs, sha(l))
	}
	return il
}

func layerOf(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d.bin", seed), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

// fakeSave is an archive as Engine 20.10 writes it (legacy layout).
func fakeSave(images ...fakeImage) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	var man []map[string]any
	done := map[string]bool{}
	for _, im := range images {
		var paths []string
		for _, l := range im.layers {
			dir := sha(append([]byte("v1"), l...))[7:]
			if !done[dir] {
				put(dir+"/layer.tar", l)
				put(dir+"/VERSION", []byte("1.0"))
				done[dir] = true
			}
			paths = append(paths, dir+"/layer.tar")
		}
		put(im.id()[7:]+".json", im.config)
		man = append(man, map[string]any{"Config": im.id()[7:] + ".json", "RepoTags": im.tags, "Layers": paths})
	}
	mj, _ := json.Marshal(man)
	put("manifest.json", mj)
	tw.Close()
	return buf.Bytes()
}

// setImages makes the fake engine's stack use images (app, worker).
func setImages(eng *backuptest.Engine, le layersEngine, app, worker fakeImage) {
	eng.Stack.Images[0].ID, eng.Stack.Containers[0].ImageID = app.id(), app.id()
	eng.Stack.Images[1].ID, eng.Stack.Containers[1].ImageID = worker.id(), worker.id()
	le.layers[app.id()], le.layers[worker.id()] = app.layersInfo(), worker.layersInfo()
}

func indexFiles(t *testing.T, target string) int {
	ents, _ := os.ReadDir(filepath.Join(target, store.IndexPrefix))
	return len(ents)
}

// A store backup through an engine that tells layers stores each image's
// config and layers as files (a shared layer once); a second backup of the
// unchanged stack saves no image; a rebuilt image saves only itself and
// stores only its new layer and config; a layer that does not match its
// DiffID fails the backup and stores nothing.
func TestRunStoreImagesByLayer(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	le := layersEngine{Engine: eng, layers: map[string]dockerapi.ImageLayers{}}
	base, top := layerOf(1, 900<<10), layerOf(2, 1500<<10)
	app, worker := newFakeImage([]string{"demo/app:1"}, base, top), newFakeImage(nil, base)
	setImages(eng, le, app, worker)
	eng.ImageData = fakeSave(app, worker)
	spec := backuptest.MustSpec(t, le)
	spec.Format = backup.FormatStore

	first, err := backup.Run(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := first.Manifest
	if !m.ImagesByLayer() || len(m.Images) != 2 || len(m.Images[0].Layers) != 2 || m.Images[0].ConfigDigest != app.id() {
		t.Fatalf("images: %+v", m.Images)
	}
	if _, ok := m.File(pack.ImagesFile); ok {
		t.Fatal("images.tar beside the images by layer")
	}
	want := map[string][]byte{pack.ImageConfigPath(app.id()): app.config, pack.ImageConfigPath(worker.id()): worker.config,
		pack.ImageLayerPath(sha(base)): base, pack.ImageLayerPath(sha(top)): top}
	d, err := pack.OpenDir(ctx, first.Pack, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for p, data := range want {
		fe, ok := m.File(p)
		if !ok {
			t.Fatalf("%s not in the pack", p)
		}
		rc, err := d.OpenFile(ctx, m, fe)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s reads back wrong: %v", p, err)
		}
	}
	if vr, err := pack.Verify(ctx, first.Pack, pack.VerifyOptions{Structural: true}); err != nil {
		t.Fatalf("verify: %v %+v", err, vr.Failed())
	}
	total := int64(len(base) + len(top) + len(app.config) + len(worker.config))
	if st := first.Store["images"]; st.ReadBytes != total || st.NewRawBytes+st.ReusedRawBytes != total || st.NewRawBytes < total-64<<10 {
		t.Fatalf("first images stats %+v", st)
	}

	second, err := backup.Run(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(eng.Saved()); n != 1 {
		t.Fatalf("the unchanged stack was saved again: %v", eng.Saved())
	}
	if st := second.Store["images"]; st.NewRawBytes != 0 || st.ReadBytes != 0 || st.ReusedRawBytes != total {
		t.Fatalf("second images stats %+v", st)
	}

	top2 := layerOf(3, 700<<10)
	app2 := newFakeImage([]string{"demo/app:1"}, base, top2)
	setImages(eng, le, app2, worker)
	eng.ImageData = fakeSave(app2)
	third, err := backup.Run(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := eng.Saved(); len(s) != 2 || len(s[1]) != 1 || s[1][0] != app2.id() {
		t.Fatalf("saved: %v (want only the rebuilt image)", s)
	}
	// Only the new layer and config add data (a chunk of them may be in
	// the store already: tar trailers are alike).
	if st := third.Store["images"]; st.NewRawBytes > int64(len(top2)+len(app2.config)) || st.NewRawBytes < int64(len(top2))/2 {
		t.Fatalf("rebuilt image: stored %+v, want at most its new layer (%d) and config (%d)", st, len(top2), len(app2.config))
	}
	for _, f := range third.Manifest.Files {
		isNew := f.Path == pack.ImageLayerPath(sha(top2)) || f.Path == pack.ImageConfigPath(app2.id())
		if (f.Kind == pack.FileImageLayer || f.Kind == pack.FileImageConfig) && (f.Chunks.NewRawBytes > 0) != isNew {
			t.Errorf("%s: %d new bytes", f.Path, f.Chunks.NewRawBytes)
		}
	}

	// A flipped byte in the new layer: refused, nothing indexed, no pack.
	app3 := newFakeImage([]string{"demo/app:1"}, base, layerOf(4, 600<<10))
	setImages(eng, le, app3, worker)
	bad := fakeSave(app3)
	bad[len(bad)/3] ^= 0x20
	eng.ImageData = bad
	idx := indexFiles(t, spec.Target)
	packs, _ := pack.List(ctx, spec.Target)
	_, err = backup.Run(ctx, spec, nil)
	if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || backup.ErrorCode(err) != "image_save_incomplete" {
		t.Fatalf("flipped layer: %v", err)
	}
	if n := indexFiles(t, spec.Target); n != idx {
		t.Fatalf("index files %d → %d after a failed backup", idx, n)
	}
	if after, _ := pack.List(ctx, spec.Target); len(after) != len(packs) {
		t.Fatalf("packs %d → %d after a failed backup", len(packs), len(after))
	}
}

// loadRecorder is the fake restore engine that holds some layer chains and
// keeps the archive ImageLoad was given.
type loadRecorder struct {
	*backuptest.Engine
	chains  map[string]bool
	archive []byte
}

func (e *loadRecorder) LayerChains(context.Context) (map[string]bool, error) { return e.chains, nil }

func (e *loadRecorder) LoadImages(ctx context.Context, r io.Reader) (dockerapi.LoadResult, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return dockerapi.LoadResult{}, err
	}
	e.archive = data
	return e.Engine.LoadImages(ctx, bytes.NewReader(data))
}

// A store pack's images by layer are restored from an archive assembled
// from their configs and layers, straight into ImageLoad, without the
// layers the engine holds; every tag is checked by its config digest.
func TestRestoreStoreImagesByLayer(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	le := layersEngine{Engine: eng, layers: map[string]dockerapi.ImageLayers{}}
	base, top := layerOf(1, 300<<10), layerOf(2, 200<<10)
	app, worker := newFakeImage([]string{"demo/app:1"}, base, top), newFakeImage(nil, base)
	setImages(eng, le, app, worker)
	eng.ImageData = fakeSave(app, worker)
	spec := backuptest.MustSpec(t, le)
	spec.Format = backup.FormatStore
	res, err := backup.Run(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &loadRecorder{Engine: backuptest.NewEngine(), chains: map[string]bool{sha(base): true}}
	rec.ClearImages()
	rec.OnLoad = map[string]string{"demo/app:1": app.id(), worker.id(): worker.id()}
	rr, err := restore.Run(ctx, res.Pack, restore.Spec{Engine: rec, Components: []pack.Component{pack.ComponentImages}, SkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Images) != 2 || !rr.Images[0].Checked || !rr.Images[1].Checked {
		t.Fatalf("restored images: %+v", rr.Images)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(rec.archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	if _, ok := files[sha(base)[7:]+"/layer.tar"]; ok {
		t.Error("the layer the engine holds was sent")
	}
	if !bytes.Equal(files[sha(top)[7:]+"/layer.tar"], top) || !bytes.Equal(files[app.id()[7:]+".json"], app.config) {
		t.Error("the archive lacks the new layer or a config")
	}
	var man []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil || len(man) != 2 || len(man[0].Layers) != 2 || man[0].RepoTags[0] != "demo/app:1" {
		t.Fatalf("manifest.json: %s %v", files["manifest.json"], err)
	}

	// A byte flipped in the store (no verify first): the chunk that holds
	// it fails its sha256 as the archive is assembled, and the restore.
	filepath.WalkDir(filepath.Join(spec.Target, store.DataPrefix), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			data[len(data)/3] ^= 0xff
			os.WriteFile(p, data, 0o600)
		}
		return nil
	})
	rec = &loadRecorder{Engine: backuptest.NewEngine(), chains: map[string]bool{}}
	rec.ClearImages()
	_, err = restore.Run(ctx, res.Pack, restore.Spec{Engine: rec, Components: []pack.Component{pack.ComponentImages}, SkipVerify: true})
	var be *store.BlobError
	if !errors.As(err, &be) {
		t.Fatalf("restore from a damaged store: %v", err)
	}
}

// Export of a store pack with images by layer writes a self-contained
// classic pack: images.tar assembled (a valid image archive of every
// image), the other files copied, SHA256SUMS right for every file, a
// format-1 manifest naming its source. A second export is refused; a
// damaged chunk stops an export and leaves nothing at the destination.
func TestExportStoreImagesByLayer(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	le := layersEngine{Engine: eng, layers: map[string]dockerapi.ImageLayers{}}
	base, top := layerOf(1, 300<<10), layerOf(2, 200<<10)
	app, worker := newFakeImage([]string{"demo/app:1"}, base, top), newFakeImage(nil, base)
	setImages(eng, le, app, worker)
	eng.ImageData = fakeSave(app, worker)
	for v := range eng.VolData {
		eng.VolData[v] = backuptest.SmallTar("data.txt", v)
	}
	spec := backuptest.MustSpec(t, le)
	spec.Format = backup.FormatStore
	src, err := backup.Run(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	es := export.Spec{Pack: src.Pack, Target: dest, Policy: backuptest.Relaxed}
	res, err := export.Export(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	m, hash, err := pack.ReadManifest(ctx, res.Pack)
	if err != nil || m.FormatVersion != pack.FormatVersion || m.Store != nil || m.ImagesByLayer() || hash != res.PackageHash ||
		m.ExportedFrom == nil || m.ExportedFrom.PackageHash != src.PackageHash || m.ExportedFrom.FormatVersion != pack.FormatStore {
		t.Fatalf("exported manifest: %v %+v", err, m)
	}
	if vr, err := pack.Verify(ctx, res.Pack, pack.VerifyOptions{}); err != nil {
		t.Fatalf("verify the export: %v %+v", err, vr.Failed())
	}
	sums, _ := os.ReadFile(filepath.Join(res.Pack, pack.SumsFile))
	parsed, err := pack.ParseSums(bytes.NewReader(sums))
	if err != nil || len(parsed) != len(m.Files)+1 {
		t.Fatalf("SHA256SUMS: %v %d lines", err, len(parsed))
	}
	for _, s := range parsed {
		data, err := os.ReadFile(filepath.Join(res.Pack, s.Path))
		if err != nil || sha(data)[7:] != s.SHA256 {
			t.Fatalf("%s: sha256sum -c fails: %v", s.Path, err)
		}
	}
	images, _ := os.ReadFile(filepath.Join(res.Pack, pack.ImagesFile))
	arch, err := tarcheck.ValidateImageArchive(ctx, bytes.NewReader(images))
	if err != nil || len(arch.Images) != 2 || arch.Images[0].ConfigDigest != app.id() || arch.Images[0].RepoTags[0] != "demo/app:1" {
		t.Fatalf("images.tar: %v %+v", err, arch)
	}
	if _, err := export.Export(ctx, es); !errors.Is(err, export.ErrExists) || !errors.Is(err, backup.ErrPrecheck) {
		t.Fatalf("second export: %v", err)
	}
	// A flipped byte in a bundle: the export stops and leaves nothing.
	var bundles []string
	filepath.WalkDir(filepath.Join(spec.Target, store.DataPrefix), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			bundles = append(bundles, p)
		}
		return nil
	})
	for _, b := range bundles {
		data, _ := os.ReadFile(b)
		data[len(data)/4] ^= 0xff
		os.WriteFile(b, data, 0o600)
	}
	dest2 := t.TempDir()
	es.Target = dest2
	if _, err := export.Export(ctx, es); !errors.Is(err, export.ErrSource) {
		t.Fatalf("export of a damaged pack: %v", err)
	}
	if ents, _ := os.ReadDir(dest2); len(ents) != 0 {
		t.Fatalf("a failed export left %v", ents)
	}
}

// A store pack of images on an engine with the containerd image store
// (the fake reports it: the real test engine cannot switch) is refused in
// the precheck, before anything is written or saved, naming the image store
// and the ways out; a classic pack of the same stack, and a store pack
// without the images, are written as usual.
func TestRunStoreImagesContainerdRefused(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	eng.EngineInfo.ImageStore = dockerapi.ImageStoreContainerd
	le := layersEngine{Engine: eng, layers: map[string]dockerapi.ImageLayers{}}
	app, worker := newFakeImage([]string{"demo/app:1"}, layerOf(1, 64<<10)), newFakeImage(nil, layerOf(2, 64<<10))
	setImages(eng, le, app, worker)
	eng.ImageData = fakeSave(app, worker)
	spec := backuptest.MustSpec(t, le)
	spec.Format = backup.FormatStore
	_, err := backup.Run(ctx, spec, nil)
	if !errors.Is(err, dockerapi.ErrUnsupported) || backup.FailedStep(err) != "precheck" {
		t.Fatalf("store pack of images on the containerd image store: %v (step %q)", err, backup.FailedStep(err))
	}
	for _, want := range []string{"containerd image store", "--format classic", "--no-images"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if s := eng.Saved(); len(s) != 0 {
		t.Fatalf("ImageSave called before the refusal: %v", s)
	}
	if ents, _ := os.ReadDir(spec.Target); len(ents) != 0 {
		t.Fatalf("the refused backup wrote %v", ents)
	}

	classic := spec
	classic.Format = backup.FormatClassic
	res, err := backup.Run(ctx, classic, nil)
	if err != nil || len(res.Manifest.Images) != 2 {
		t.Fatalf("classic pack on the containerd image store: %v", err)
	}
	if _, ok := res.Manifest.File(pack.ImagesFile); !ok {
		t.Fatal("the classic pack has no images.tar")
	}
	noImages := spec
	noImages.Components = []pack.Component{pack.ComponentVolumes}
	res, err = backup.Run(ctx, noImages, nil)
	if err != nil || !res.Manifest.IsStore() || len(res.Manifest.Images) != 0 {
		t.Fatalf("store pack without the images on the containerd image store: %v", err)
	}
}
