//go:build integration

package integration_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/export"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// TestStoreImagesByLayer is issue 13's acceptance on the real engine: a
// store pack holds images by layer; a second backup of the unchanged stack
// calls no ImageSave and writes ≤ 1 % of the first; an image rebuilt with a
// changed top layer writes only that layer and its config; after removing
// containers, volumes and images the pack restores every tag with its
// config digest, the volume and the database identical; its export loads
// with ImageLoad of images.tar on an engine that lacks the images, passes
// `sha256sum -c` and `dockpack verify`.
func TestStoreImagesByLayer(t *testing.T) {
	s := siNewStack(t, 6<<20, 512<<20)
	first := s.backup(t)
	if n := len(s.eng.Saves()); n != 1 || !first.Manifest.ImagesByLayer() || len(first.Manifest.Images) != 2 {
		t.Fatalf("first backup: %d ImageSave calls, images %+v", n, first.Manifest.Images)
	}
	b1 := siTargetBytes(s.target)

	second := s.backup(t)
	b2 := siTargetBytes(s.target)
	ratio := float64(b2-b1) / float64(b1)
	t.Logf("unchanged re-backup: %d bytes written after a first pack of %d (ratio %.5f); images step %v (first %v)",
		b2-b1, b1, ratio, second.Steps["images"], first.Steps["images"])
	if n := len(s.eng.Saves()); n != 1 {
		t.Fatalf("the unchanged stack was saved again: %v", s.eng.Saves())
	}
	if ratio > 0.01 || second.Store.Total().NewBytes != 0 {
		t.Fatalf("unchanged re-backup wrote %d bytes (%.4f of the first), store stats %+v", b2-b1, ratio, second.Store.Total())
	}

	// b rebuilt with another top layer (same tag), its container recreated.
	oldB := s.ids[1]
	newB := siBuild(t, s.cli, s.refs[0], s.refs[1], "b.bin", s.imgBytes/2, s.project+"b-rebuilt")
	forceRemove(t, s, s.ctrs[1])
	s.ctrs[1] = s.container(t, "b", s.refs[1], false)
	third := s.backup(t)
	saves := s.eng.Saves()
	if len(saves) != 2 || !slices.Equal(saves[1], []string{newB}) {
		t.Fatalf("after the rebuild: ImageSave calls %v, want one of %s only", saves, newB)
	}
	il, err := s.eng.ImageLayers(MustCtx(t), newB)
	if err != nil {
		t.Fatal(err)
	}
	top := il.DiffIDs[len(il.DiffIDs)-1]
	want := []string{pack.ImageConfigPath(newB), pack.ImageLayerPath(top)}
	slices.Sort(want)
	if got := siNewImageFiles(third.Manifest); !slices.Equal(got, want) {
		t.Fatalf("after the rebuild the image files that added data are %v, want %v", got, want)
	}
	t.Logf("rebuilt image: %d new plaintext bytes in the images (new layer and config)", third.Store["images"].NewRawBytes)

	if err := siRemoveImage(s.cli, oldB); err != nil { // the image b was before
		t.Fatal(err)
	}
	siRoundTrip(t, s, third)
	siExport(t, s, third)
}

// siRoundTrip removes the stack's containers, volume and images, restores
// the pack and checks every tag, the volume and the database.
func siRoundTrip(t *testing.T, s *siStack, res *backup.Result) {
	t.Helper()
	for _, c := range s.ctrs {
		forceRemove(t, s, c)
	}
	if err := s.eng.RemoveVolume(MustCtx(t), s.volume, true); err != nil {
		t.Fatal(err)
	}
	s.removeImages(t, res.Manifest)
	dest := filepath.Join(t.TempDir(), "restored.db")
	rr, err := restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: s.eng.Client, SQLiteDest: dest, StagingDir: t.TempDir()})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	checked := 0
	for _, im := range rr.Images {
		if !im.Checked {
			t.Errorf("image %s not checked by its config digest", im.Ref)
		}
		checked++
	}
	if checked != 2 {
		t.Fatalf("restored images: %+v", rr.Images)
	}
	// The base image's layer is still on the engine: it is left out.
	t.Logf("restore: images step %v, %d bytes sent of the images' %d", rr.Steps["images"], rr.Bytes, res.Manifest.ImagesSize())
	if rr.Bytes >= res.Manifest.ImagesSize() {
		t.Errorf("the restore sent every layer (%d bytes), also those the engine has", rr.Bytes)
	}
	if sum, _ := rsDigest(t, s.cli, s.volume, s.refs[0]); sum != s.volSum {
		t.Fatal("the restored volume differs")
	}
	if rsDump(t, dest) != rsDump(t, s.db) {
		t.Fatal("the restored database differs")
	}
}

// siExport exports the pack, checks it (sha256sum -c, dockpack verify) and
// loads its images.tar into an engine without the images.
func siExport(t *testing.T, s *siStack, res *backup.Result) {
	t.Helper()
	out := MustTmpfs(t, 256<<20)
	code, stdout, stderr := rsCLI(t, "export", res.Pack, "--to", out, "--fstype", "tmpfs", "--json")
	var er export.Result
	if err := json.Unmarshal([]byte(stdout), &er); code != 0 || err != nil || er.SourceFormat != pack.FormatStore {
		t.Fatalf("dockpack export: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if code, _, stderr := rsCLI(t, "export", res.Pack, "--to", out, "--fstype", "tmpfs"); code != 3 {
		t.Fatalf("a second export into the same directory: exit %d (want 3)\n%s", code, stderr)
	}
	cmd := exec.Command("sha256sum", "-c", "--quiet", pack.SumsFile)
	cmd.Dir = er.Pack
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c in the export: %v\n%s", err, msg)
	}
	if code, stdout, stderr := rsCLI(t, "verify", er.Pack); code != 0 {
		t.Fatalf("dockpack verify of the export: exit %d\n%s\n%s", code, stdout, stderr)
	}
	s.removeImages(t, res.Manifest)
	f, err := os.Open(filepath.Join(er.Pack, pack.ImagesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.eng.LoadImages(MustCtx(t), f); err != nil {
		t.Fatalf("ImageLoad of the exported images.tar: %v", err)
	}
	for _, im := range res.Manifest.Images {
		for _, tag := range im.RepoTags {
			if d, err := s.eng.ImageConfigDigest(MustCtx(t), tag); err != nil || d != im.ConfigDigest {
				t.Errorf("%s after loading the export: %s %v, want %s", tag, d, err, im.ConfigDigest)
			}
		}
	}
}

// removeImages removes the pack's images, children first.
func (s *siStack) removeImages(t testing.TB, m *pack.Manifest) {
	t.Helper()
	for _, im := range slices.Backward(m.Images) {
		if err := siRemoveImage(s.cli, im.ConfigDigest); err != nil {
			t.Fatal(err)
		}
	}
	for _, im := range m.Images {
		if _, err := s.eng.ImageConfigDigest(MustCtx(t), im.ConfigDigest); !errors.Is(err, dockerapi.ErrImageNotFound) {
			t.Fatalf("image %s still on the engine: %v", im.ConfigDigest, err)
		}
	}
}

func forceRemove(t testing.TB, s *siStack, id string) {
	t.Helper()
	if err := dockertest.ForceRemoveContainer(s.cli, id); err != nil {
		t.Fatal(err)
	}
}

// TestStoreImagesFlippedLayer: a byte flipped inside a layer of the
// ImageSave stream (an http proxy in front of the engine) fails the store
// backup as an incomplete image export, and nothing is stored: no pack, no
// index entry; the next backup without the proxy stores the layer as it is
// and its pack passes the full verify.
func TestStoreImagesFlippedLayer(t *testing.T) {
	s := siNewStack(t, 2<<20, 256<<20)
	host, flips := siFlipProxy(t)
	via := &siCounting{Client: MustEngineAt(t, host)}
	_, err := backup.Run(MustCtx(t), s.spec(t, via), nil)
	if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || backup.ErrorCode(err) != "image_save_incomplete" || flips.Load() != 1 {
		t.Fatalf("backup through the flipping proxy: %v (code %s, %d bytes flipped)", err, backup.ErrorCode(err), flips.Load())
	}
	t.Logf("refused: %v", err)
	if packs, partials := TargetDirs(t, s.target); len(packs)+len(partials) != 0 {
		t.Fatalf("after the refused backup: packs %v, partials %v", packs, partials)
	}
	if idx, _ := filepath.Glob(filepath.Join(s.target, filepath.FromSlash(store.IndexPrefix), "*")); len(idx) != 0 {
		t.Fatalf("the refused backup indexed data: %v", idx)
	}
	res := s.backup(t)
	if vr, err := pack.Verify(MustCtx(t), res.Pack, pack.VerifyOptions{StagingDir: t.TempDir()}); err != nil {
		t.Fatalf("full verify: %v %+v", err, vr.Failed())
	}
}
