//go:build integration

package integration_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

func TestDockerInfo(t *testing.T) {
	c := MustEngine(t)
	ei, err := c.Info(MustCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine: %+v", ei)
	if ei.Version == "" || ei.APIVersion == "" || ei.ClientAPIVersion == "" || ei.DataRoot == "" || ei.OS != "linux" || ei.Arch == "" {
		t.Errorf("incomplete Info: %+v", ei)
	}
	if ei.ImageStore != dockerapi.ImageStoreGraphDriver && ei.ImageStore != dockerapi.ImageStoreContainerd {
		t.Errorf("ImageStore = %q", ei.ImageStore)
	}
	if !ei.Local {
		t.Logf("engine reached over %s (not a unix socket)", c.Host())
	}
}

// TestDockerResolveStack builds a compose-labelled stack by hand: a v2-named
// running container, a v1-named exited one, a created-never-started one, a
// project volume no container mounts, an external volume, a bind mount, an
// anonymous volume and a tmpfs.
func TestDockerResolveStack(t *testing.T) {
	cli := dockertest.MustClient(t)
	c := MustEngine(t)
	p := daProject()
	appRef := daImageRef("app")
	dockertest.MustTestAppImage(t, cli, appRef)
	initRef := daImageRef("init")
	dockertest.MustDerivedImage(t, cli, appRef, initRef, map[string][]byte{"/etc/init.conf": []byte("x=1\n")})

	vData, vOrphan, vCreated := p+"_data", p+"_orphan", p+"_created"
	vExt := dockertest.Unique("dockpack-test-ext")
	for _, v := range []string{vData, vOrphan, vCreated} {
		dockertest.MustVolume(t, cli, v, dockertest.ComposeVolumeLabels(p, strings.TrimPrefix(v, p+"_")))
	}
	dockertest.MustVolume(t, cli, vExt, nil)
	dockertest.MustWriteVolume(t, cli, vOrphan, appRef, dockertest.MustTar(t,
		dockertest.TarEntry{Name: "orphan.txt", Body: []byte("nobody mounts me\n"), UID: 70, GID: 70},
		dockertest.TarEntry{Name: "sub/", Mode: 0o700},
		dockertest.TarEntry{Name: "sub/deep.txt", Body: []byte("deep\n")},
	))
	dockertest.MustWriteVolume(t, cli, vData, appRef, dockertest.MustTar(t, dockertest.TarEntry{Name: "data.txt", Body: []byte("data\n")}))
	bindDir := t.TempDir()

	web := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "-web-1", Image: appRef, Labels: dockertest.ComposeLabels(p, "web", 1), Start: true,
		Mounts: []dockertest.Mount{
			{Type: "volume", Source: vData, Target: "/data"},
			{Type: "bind", Source: bindDir, Target: "/host"},
			{Type: "volume", Target: "/anon"},
			{Type: "tmpfs", Target: "/run/scratch"},
		},
	})
	worker := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "_worker_1", Image: appRef, Cmd: []string{"true"}, Labels: dockertest.ComposeLabels(p, "worker", 1),
		Mounts: []dockertest.Mount{{Type: "volume", Source: vExt, Target: "/ext"}},
	})
	dockertest.StartContainer(t, cli, worker) // "true" exits at once
	dockertest.WaitState(t, cli, worker, false, 30*time.Second)
	initLabels := dockertest.ComposeLabels(p, "init", 1)
	initLabels[dockerapi.LabelConfigFiles] = "/srv/" + p + "/docker-compose.yml,/srv/" + p + "/docker-compose.override.yml"
	initLabels[dockerapi.LabelEnvFile] = "/srv/" + p + "/.env"
	initC := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "_init_1", Image: initRef, Labels: initLabels,
		Mounts: []dockertest.Mount{{Type: "volume", Source: vCreated, Target: "/c"}},
	})

	start := time.Now()
	st, err := c.ResolveStack(MustCtx(t), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ResolveStack took %v", time.Since(start))

	var names, states []string
	for _, ct := range st.Containers {
		names = append(names, ct.Name)
		states = append(states, ct.Service+"="+ct.State)
	}
	if want := []string{p + "_init_1", p + "-web-1", p + "_worker_1"}; !slices.Equal(names, want) {
		t.Errorf("containers = %v, want %v (sorted by service, v1 and v2 names alike)", names, want)
	}
	if want := []string{"init=created", "web=running", "worker=exited"}; !slices.Equal(states, want) {
		t.Errorf("states = %v, want %v", states, want)
	}
	if want := []string{"init", "web", "worker"}; !slices.Equal(st.Services, want) {
		t.Errorf("services = %v", st.Services)
	}
	if len(st.Images) != 2 {
		t.Fatalf("images = %+v, want 2", st.Images)
	}
	imgs := map[string][]string{}
	for _, im := range st.Images {
		imgs[im.SaveRef()] = im.Containers
		if !strings.HasPrefix(im.ID, "sha256:") || len(im.Layers) == 0 || im.Size <= 0 {
			t.Errorf("image %s: %+v", im.SaveRef(), im)
		}
	}
	if got := imgs[appRef]; !slices.Equal(got, []string{p + "-web-1", p + "_worker_1"}) {
		t.Errorf("image %s used by %v", appRef, got)
	}
	if got := imgs[initRef]; !slices.Equal(got, []string{p + "_init_1"}) {
		t.Errorf("image %s used by %v (the created container's image must be included)", initRef, got)
	}

	vols := map[string]dockerapi.Volume{}
	var vnames []string
	for _, v := range st.Volumes {
		vols[v.Name] = v
		vnames = append(vnames, v.Name)
	}
	if want := daSorted([]string{vCreated, vData, vOrphan, vExt}); !slices.Equal(vnames, want) {
		t.Fatalf("volumes = %v, want %v", vnames, want)
	}
	for _, v := range st.Volumes {
		if v.External != (v.Name == vExt) {
			t.Errorf("volume %s External = %v", v.Name, v.External)
		}
		t.Logf("volume %s: size %d, used by %+v", v.Name, v.Size, v.UsedBy)
	}
	if u := vols[vData].UsedBy; len(u) != 1 || u[0].ContainerID != web || !u[0].Running || u[0].Destination != "/data" {
		t.Errorf("%s used by %+v", vData, u)
	}
	if u := vols[vExt].UsedBy; len(u) != 1 || u[0].ContainerID != worker || u[0].Running {
		t.Errorf("%s used by %+v", vExt, u)
	}
	if u := vols[vOrphan].UsedBy; len(u) != 0 {
		t.Errorf("%s used by %+v", vOrphan, u)
	}
	if s := vols[vData].Size; s != -1 && s < 5 {
		t.Errorf("%s size %d", vData, s)
	}

	skipped := map[string]string{}
	for _, s := range st.Skipped {
		skipped[s.Kind+" "+s.Destination] = s.Container
		if s.Reason == "" {
			t.Errorf("skipped %+v has no reason", s)
		}
	}
	for _, k := range []string{"bind /host", "anonymous /anon", "tmpfs /run/scratch"} {
		if skipped[k] != p+"-web-1" {
			t.Errorf("Skipped lacks %q: %+v", k, st.Skipped)
		}
	}
	if len(st.Skipped) != 3 {
		t.Errorf("Skipped = %+v, want 3 entries", st.Skipped)
	}
	wantFiles := []string{"/srv/" + p + "/docker-compose.yml", "/srv/" + p + "/docker-compose.override.yml"}
	if !slices.Equal(st.ComposeFiles, wantFiles) || st.WorkingDir != "/srv/"+p || !slices.Equal(st.EnvFiles, []string{"/srv/" + p + "/.env"}) {
		t.Errorf("compose files %v, working dir %q, env files %v", st.ComposeFiles, st.WorkingDir, st.EnvFiles)
	}

	t.Run("unknown project", func(t *testing.T) {
		_, err := c.ResolveStack(MustCtx(t), p+"x")
		var pnf *dockerapi.ProjectNotFoundError
		if !errors.Is(err, dockerapi.ErrProjectNotFound) || !errors.As(err, &pnf) {
			t.Fatalf("err = %v, want ErrProjectNotFound", err)
		}
		if !slices.Contains(pnf.Known, p) || !strings.Contains(err.Error(), p) {
			t.Errorf("known projects %v / message %q do not name %s", pnf.Known, err, p)
		}
	})

	t.Run("project of volumes only", func(t *testing.T) {
		q := daProject()
		dockertest.MustVolume(t, cli, q+"_db", dockertest.ComposeVolumeLabels(q, "db"))
		st, err := c.ResolveStack(MustCtx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Containers) != 0 || len(st.Images) != 0 || len(st.Volumes) != 1 || st.Volumes[0].Name != q+"_db" || st.Volumes[0].External {
			t.Errorf("stack = %+v", st)
		}
	})

	t.Run("export orphan volume via helper", func(t *testing.T) {
		data, res := daExport(t, c, st, vOrphan)
		if !strings.HasPrefix(res.Via, "helper container from ") {
			t.Errorf("Via = %q", res.Via)
		}
		got := daTarEntries(t, data)
		t.Logf("via %s: %d bytes\n%s", res.Via, res.Bytes, strings.Join(got, "\n"))
		want := []string{"./ type=5", "orphan.txt type=0 mode=644 owner=70:70", "sub/ type=5 mode=700", "sub/deep.txt type=0"}
		if len(got) != len(want) {
			t.Fatalf("entries = %v", got)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("entry %d = %q, want prefix %q", i, got[i], want[i])
			}
		}
		if res.Entries != 4 || res.ContentBytes != int64(len("nobody mounts me\n")+len("deep\n")) {
			t.Errorf("res = %+v", res)
		}
		daNoHelpers(t, cli, vOrphan)
	})

	t.Run("export via the created and the running container", func(t *testing.T) {
		for vol, via := range map[string]string{vCreated: "container " + p + "_init_1", vData: "container " + p + "-web-1"} {
			data, res := daExport(t, c, st, vol)
			if res.Via != via {
				t.Errorf("%s: Via = %q, want %q", vol, res.Via, via)
			}
			entries := daTarEntries(t, data)
			if len(entries) == 0 || !strings.HasPrefix(entries[0], "./ ") {
				t.Errorf("%s: entries %v do not start at the root", vol, entries)
			}
			if vol == vData && (len(entries) != 2 || !strings.HasPrefix(entries[1], "data.txt ")) {
				t.Errorf("%s: entries %v", vol, entries)
			}
		}
		_ = initC
	})
}

// TestDockerSaveLoadSharedLayers saves two images that share their base
// layer in one stream, compares it with saving them one by one, then loads
// it back after removing them.
func TestDockerSaveLoadSharedLayers(t *testing.T) {
	cli := dockertest.MustClient(t)
	c := MustEngine(t)
	baseRef := daImageRef("base")
	dockertest.MustTestAppImage(t, cli, baseRef)
	refA, refB := daImageRef("a"), daImageRef("b")
	idA := dockertest.MustDerivedImage(t, cli, baseRef, refA, map[string][]byte{"/a.txt": []byte("image a\n")})
	idB := dockertest.MustDerivedImage(t, cli, baseRef, refB, map[string][]byte{"/b.txt": []byte("image b\n")})

	digA, err := c.ImageConfigDigest(MustCtx(t), refA)
	if err != nil {
		t.Fatal(err)
	}
	digB, err := c.ImageConfigDigest(MustCtx(t), refB)
	if err != nil {
		t.Fatal(err)
	}
	if digA != idA || digB != idB {
		t.Errorf("graph driver: config digest %s/%s should equal image IDs %s/%s", digA, digB, idA, idB)
	}

	path := filepath.Join(t.TempDir(), "images.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	both, err := c.SaveImages(MustCtx(t), []string{refA, refB}, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("SaveImages: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != both.Bytes {
		t.Errorf("file has %d bytes, Bytes = %d", fi.Size(), both.Bytes)
	}
	digests := map[string]string{}
	for _, im := range both.Images {
		digests[im.Ref] = im.ConfigDigest
	}
	if digests[refA] != digA || digests[refB] != digB || len(both.Images) != 2 {
		t.Errorf("archive images %+v, want %s=%s %s=%s", both.Images, refA, digA, refB, digB)
	}
	var sepTotal int64
	for _, r := range []string{refA, refB} {
		var cw daCounter
		res, err := c.SaveImages(MustCtx(t), []string{r}, &cw)
		if err != nil {
			t.Fatalf("SaveImages %s: %v", r, err)
		}
		sepTotal += res.Bytes
	}
	t.Logf("one stream: %d bytes (first byte after %v); one by one: %d bytes; ratio %.2f; missing platforms %v",
		both.Bytes, both.FirstByte, sepTotal, float64(both.Bytes)/float64(sepTotal), both.MissingPlatforms)
	if both.Bytes >= sepTotal {
		t.Errorf("one stream (%d bytes) is not smaller than the images saved separately (%d bytes): shared layers stored twice?", both.Bytes, sepTotal)
	}

	// the restore side: remove both (and the base), load the archive back
	for _, r := range []string{idA, idB} {
		if err := c.RemoveImage(MustCtx(t), r, true); err != nil {
			t.Fatal(err)
		}
	}
	dockertest.RemoveImage(t, cli, baseRef)
	if dockertest.ImageExists(t, cli, refA) || dockertest.ImageExists(t, cli, refB) {
		t.Fatal("images still present before the load")
	}
	if _, err := c.ImageConfigDigest(MustCtx(t), refA); !errors.Is(err, dockerapi.ErrImageNotFound) {
		t.Errorf("ImageConfigDigest of a removed image: %v, want ErrImageNotFound", err)
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	loaded, err := c.LoadImages(MustCtx(t), in)
	if err != nil {
		t.Fatalf("LoadImages: %v", err)
	}
	t.Logf("loaded: %v notes: %v", loaded.Loaded, loaded.Notes)
	for _, r := range []string{refA, refB} {
		if !slices.Contains(loaded.Loaded, r) {
			t.Errorf("LoadImages did not report %s: %v", r, loaded.Loaded)
		}
	}
	for r, want := range map[string]string{refA: digA, refB: digB} {
		got, err := c.ImageConfigDigest(MustCtx(t), r)
		if err != nil || got != want {
			t.Errorf("after load %s: config digest %s, %v; want %s", r, got, err, want)
		}
	}

	t.Run("real stream cut by a proxy", func(t *testing.T) {
		for name, f := range map[string]dockertest.Fault{
			"truncated":      {Method: "GET", Path: dockertest.PathImageSave, AfterBytes: 1 << 20, Action: dockertest.Truncate},
			"error appended": {Method: "GET", Path: dockertest.PathImageSave, AfterBytes: 1 << 20, Action: dockertest.Append, Data: []byte(`{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}`)},
			"aborted":        {Method: "GET", Path: dockertest.PathImageSave, AfterBytes: 1 << 20, Action: dockertest.Abort},
		} {
			proxy := dockertest.NewFaultProxy(t, "", f)
			pc, err := dockerapi.New(MustCtx(t), dockerapi.Options{Host: proxy.Host()})
			if err != nil {
				t.Fatal(err)
			}
			var cw daCounter
			_, err = pc.SaveImages(MustCtx(t), []string{refA, refB}, &cw)
			pc.Close()
			if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || proxy.Hits() != 1 {
				t.Fatalf("%s: err = %v (fault applied %d times), want ErrImageSaveIncomplete", name, err, proxy.Hits())
			}
			if f.Action == dockertest.Append && !strings.Contains(err.Error(), "no space left on device") {
				t.Errorf("%s: the engine's message is not quoted: %v", name, err)
			}
			t.Logf("%s after %d bytes: %v", name, cw.n, err)
		}
	})

	t.Run("load garbage", func(t *testing.T) {
		_, err := c.LoadImages(MustCtx(t), bytes.NewReader(dockertest.MustTar(t, dockertest.TarEntry{Name: "hello.txt", Body: []byte("not an image")})))
		if !errors.Is(err, dockerapi.ErrImageLoad) {
			t.Fatalf("err = %v, want ErrImageLoad", err)
		}
		t.Logf("engine said: %v", err)
	})
}

// daCounter counts bytes written.
type daCounter struct{ n int64 }

func (d *daCounter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

func TestDockerSaveUntaggedByID(t *testing.T) {
	cli := dockertest.MustClient(t)
	c := MustEngine(t)
	baseRef := daImageRef("base")
	dockertest.MustTestAppImage(t, cli, baseRef)
	id := dockertest.MustDerivedImage(t, cli, baseRef, "", map[string][]byte{"/untagged": []byte("x")})
	st := dockerapi.Image{ID: id}
	var buf bytes.Buffer
	res, err := c.SaveImages(MustCtx(t), []string{st.SaveRef()}, &buf)
	if err != nil {
		t.Fatalf("SaveImages by ID: %v", err)
	}
	if len(res.Images) != 1 || res.Images[0].ConfigDigest != id || len(res.Images[0].RepoTags) != 0 || res.Images[0].Ref != id {
		t.Errorf("Images = %+v, want one untagged %s", res.Images, id)
	}
	_, err = c.SaveImages(MustCtx(t), []string{"dockpack-test/da-nonexistent:0"}, &buf)
	if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || !errors.Is(err, dockerapi.ErrImageNotFound) {
		t.Errorf("save of a missing image: %v", err)
	}
}

// TestDockerStopRestart stops the running containers of a set, restarts
// them, also after the context was canceled, idempotently.
func TestDockerStopRestart(t *testing.T) {
	cli := dockertest.MustClient(t)
	c := MustEngine(t)
	p := daProject()
	ref := daImageRef("app")
	dockertest.MustTestAppImage(t, cli, ref)
	var ids []string
	for i, svc := range []string{"db", "web"} {
		ids = append(ids, dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
			Name: fmt.Sprintf("%s-%s-%d", p, svc, i+1), Image: ref, Labels: dockertest.ComposeLabels(p, svc, 1), Start: true}))
	}
	idle := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Name: p + "-idle-1", Image: ref, Labels: dockertest.ComposeLabels(p, "idle", 1)})
	all := append([]string{idle}, ids...)

	restart, err := c.StopContainers(MustCtx(t), all, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range all {
		if dockertest.Running(t, cli, id) {
			t.Errorf("%s still running after StopContainers", id)
		}
	}
	for i := 0; i < 2; i++ {
		if err := restart(); err != nil {
			t.Fatalf("restart #%d: %v", i+1, err)
		}
	}
	for _, id := range ids {
		dockertest.WaitState(t, cli, id, true, 30*time.Second)
	}
	if dockertest.Running(t, cli, idle) {
		t.Error("restart started a container that was not running before")
	}

	t.Run("after cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		restart, err := c.StopContainers(ctx, ids, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := restart(); err != nil {
			t.Fatalf("restart after cancel: %v", err)
		}
		for _, id := range ids {
			dockertest.WaitState(t, cli, id, true, 30*time.Second)
		}
		if err := restart(); err != nil {
			t.Fatalf("second restart: %v", err)
		}
	})

	t.Run("ContainerState", func(t *testing.T) {
		ct, err := c.ContainerState(MustCtx(t), ids[0])
		if err != nil || !ct.Running || ct.State != "running" || ct.Service != "db" || ct.Name != p+"-db-1" {
			t.Errorf("ContainerState = %+v, %v", ct, err)
		}
		if _, err := c.ContainerState(MustCtx(t), p+"-nonexistent"); !errors.Is(err, dockerapi.ErrContainerNotFound) {
			t.Errorf("missing container: %v", err)
		}
	})
}

// daRichTar is a volume content with everything a volume backup must keep.
func daRichTar(t testing.TB) []byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	return dockertest.MustTar(t,
		dockertest.TarEntry{Name: "d/", Mode: 0o750, UID: 1000, GID: 1000},
		dockertest.TarEntry{Name: "d/f.txt", Body: []byte("hello\n"), Mode: 0o640, UID: 1001, GID: 1002},
		dockertest.TarEntry{Name: "d/run.sh", Body: []byte("#!/bin/sh\n"), Mode: 0o755},
		dockertest.TarEntry{Name: "d/setgid/", Mode: 0o2775, UID: 0, GID: 50},
		dockertest.TarEntry{Name: "empty/", Mode: 0o700, UID: 33, GID: 33},
		// a hard link's header carries its inode's owner and mode, as tar writes it
		dockertest.TarEntry{Name: "hard", Type: tar.TypeLink, Linkname: "d/f.txt", Mode: 0o640, UID: 1001, GID: 1002},
		dockertest.TarEntry{Name: "link", Type: tar.TypeSymlink, Linkname: "d/f.txt", Mode: 0o777},
		dockertest.TarEntry{Name: "dangling", Type: tar.TypeSymlink, Linkname: "/nowhere/at/all", Mode: 0o777},
		dockertest.TarEntry{Name: "a/b/c/big.bin", Body: big, Mode: 0o600, UID: 65534, GID: 65534},
		dockertest.TarEntry{Name: "a/b/c/zero", Body: nil, Mode: 0o444},
	)
}

// TestDockerVolumeRoundTrip exports a volume through a helper, imports it
// into a fresh volume through the empty helper image, and compares what a
// second export reads back.
func TestDockerVolumeRoundTrip(t *testing.T) {
	cli := dockertest.MustClient(t)
	c := MustEngine(t)
	ref := daImageRef("app")
	imgID := dockertest.MustTestAppImage(t, cli, ref)
	src, dst := dockertest.Unique("dockpack-test-src"), dockertest.Unique("dockpack-test-dst")
	dockertest.MustVolume(t, cli, src, nil)
	dockertest.MustWriteVolume(t, cli, src, ref, daRichTar(t))
	st := dockerapi.Stack{Project: "none", Images: []dockerapi.Image{{ID: imgID, RepoTags: []string{ref}}}}

	first, res := daExport(t, c, st, src)
	entries := daTarEntries(t, first)
	t.Logf("export of %s via %s: %d bytes, %d entries, %d content bytes\n%s", src, res.Via, res.Bytes, res.Entries, res.ContentBytes, strings.Join(entries, "\n"))
	for _, e := range entries {
		if strings.Contains(e, "dockpack-volume") || strings.HasPrefix(e, "/") {
			t.Errorf("entry not relative to the volume root: %s", e)
		}
	}
	for _, want := range []string{
		"d/ type=5 mode=750 owner=1000:1000", "d/f.txt type=0 mode=640 owner=1001:1002", "d/setgid/ type=5 mode=2775 owner=0:50",
		"empty/ type=5 mode=700 owner=33:33", "hard type=1 mode=640 owner=1001:1002 -> d/f.txt", "link type=2 mode=777 owner=0:0 -> d/f.txt",
		"dangling type=2 mode=777 owner=0:0 -> /nowhere/at/all", "a/b/c/big.bin type=0 mode=600 owner=65534:65534 size=262144",
	} {
		if !slices.ContainsFunc(entries, func(e string) bool { return strings.HasPrefix(e, want) }) {
			t.Errorf("export lacks %q", want)
		}
	}

	if err := c.CreateVolume(MustCtx(t), dockerapi.VolumeSpec{Name: dst, Labels: dockertest.Labels("purpose", "restore")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dockertest.RemoveVolume(t, cli, dst) })
	if err := c.CreateVolume(MustCtx(t), dockerapi.VolumeSpec{Name: dst}); !errors.Is(err, dockerapi.ErrVolumeExists) {
		t.Errorf("second CreateVolume: %v, want ErrVolumeExists", err)
	}
	v, err := c.InspectVolume(MustCtx(t), dst)
	if err != nil || v.Labels["purpose"] != "restore" || v.Driver != "local" {
		t.Errorf("InspectVolume = %+v, %v", v, err)
	}
	empty, err := c.VolumeEmpty(MustCtx(t), dst, ref)
	if err != nil || !empty {
		t.Fatalf("VolumeEmpty(fresh) = %v, %v", empty, err)
	}
	if err := c.ImportVolume(MustCtx(t), dst, "", bytes.NewReader(first)); err != nil {
		t.Fatalf("ImportVolume: %v", err)
	}
	empty, err = c.VolumeEmpty(MustCtx(t), dst, "")
	if err != nil || empty {
		t.Fatalf("VolumeEmpty(imported) = %v, %v", empty, err)
	}
	second, _ := daExport(t, c, st, dst)
	if d := daDiff(entries, daTarEntries(t, second)); d != "" {
		t.Errorf("round trip changed the volume:%s", d)
	}
	daNoHelpers(t, cli, src)
	daNoHelpers(t, cli, dst)

	t.Run("truncated import", func(t *testing.T) {
		other := dockertest.Unique("dockpack-test-trunc")
		dockertest.MustVolume(t, cli, other, nil)
		err := c.ImportVolume(MustCtx(t), other, ref, bytes.NewReader(first[:len(first)-1024]))
		if !errors.Is(err, dockerapi.ErrVolumeImport) {
			t.Fatalf("err = %v, want ErrVolumeImport", err)
		}
		t.Logf("error: %v", err)
		daNoHelpers(t, cli, other)
	})

	t.Run("missing volume", func(t *testing.T) {
		missing := dockertest.Unique("dockpack-test-missing")
		if err := c.ImportVolume(MustCtx(t), missing, ref, bytes.NewReader(first)); !errors.Is(err, dockerapi.ErrVolumeNotFound) {
			t.Errorf("ImportVolume: %v, want ErrVolumeNotFound", err)
		}
		if _, err := c.ExportVolume(MustCtx(t), st, missing, &daCounter{}); !errors.Is(err, dockerapi.ErrVolumeNotFound) || !errors.Is(err, dockerapi.ErrVolumeExportIncomplete) {
			t.Errorf("ExportVolume: %v, want ErrVolumeNotFound", err)
		}
		if _, err := c.VolumeEmpty(MustCtx(t), missing, ref); !errors.Is(err, dockerapi.ErrVolumeNotFound) {
			t.Errorf("VolumeEmpty: %v, want ErrVolumeNotFound", err)
		}
		if _, err := c.InspectVolume(MustCtx(t), missing); !errors.Is(err, dockerapi.ErrVolumeNotFound) {
			t.Errorf("the volume was created by a helper mount: %v", err)
		}
		if err := c.RemoveVolume(MustCtx(t), missing, false); !errors.Is(err, dockerapi.ErrVolumeNotFound) {
			t.Errorf("RemoveVolume: %v, want ErrVolumeNotFound", err)
		}
	})
}

func TestDockerHelperImage(t *testing.T) {
	cli := dockertest.MustClient(t)
	c := MustEngine(t)
	ref, remove, err := c.HelperImage(MustCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = remove() })
	if !dockertest.ImageExists(t, cli, ref) {
		t.Fatalf("helper image %s not on the engine", ref)
	}
	if _, n := dockertest.CountLabelled(t, cli, dockerapi.LabelHelper+"=1"); n < 1 {
		t.Errorf("no image labelled %s=1", dockerapi.LabelHelper)
	}
	// a stack without images exports through it
	vol := dockertest.Unique("dockpack-test-noimg")
	dockertest.MustVolume(t, cli, vol, nil)
	if err := c.ImportVolume(MustCtx(t), vol, ref, bytes.NewReader(dockertest.MustTar(t, dockertest.TarEntry{Name: "x", Body: []byte("x")}))); err != nil {
		t.Fatal(err)
	}
	data, res := daExport(t, c, dockerapi.Stack{Project: "none"}, vol)
	if got := daTarEntries(t, data); len(got) != 2 || !strings.HasPrefix(got[1], "x type=0") {
		t.Errorf("entries %v via %s", got, res.Via)
	}
	daNoHelpers(t, cli, vol)
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if err := remove(); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if dockertest.ImageExists(t, cli, ref) {
		t.Errorf("helper image %s still there after remove", ref)
	}
}

// daTruncateOnFirstWrite shrinks a file on the host when the first bytes of
// the export arrive (the seam that puts the change mid-copy).
type daTruncateOnFirstWrite struct {
	path string
	done bool
	err  error
	n    int64
}

func (d *daTruncateOnFirstWrite) Write(p []byte) (int, error) {
	if !d.done {
		d.done = true
		d.err = os.Truncate(d.path, 4096)
	}
	d.n += int64(len(p))
	return len(p), nil
}

// TestDockerExportShrinkingFile: a file that shrinks while the engine
// copies it makes the engine end the archive early after its 200 answer;
// that must be ErrVolumeExportIncomplete naming the volume. (A file that
// only grows is cut at the size the engine saw: the tar stays well-formed.)
func TestDockerExportShrinkingFile(t *testing.T) {
	cli := dockertest.MustClient(t)
	c := MustEngine(t)
	ei, err := c.Info(MustCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !ei.Local {
		t.Skip("needs the engine's volume directory on this host")
	}
	ref := daImageRef("app")
	imgID := dockertest.MustTestAppImage(t, cli, ref)
	vol := dockertest.Unique("dockpack-test-shrink")
	dockertest.MustVolume(t, cli, vol, nil)
	v, err := c.InspectVolume(MustCtx(t), vol)
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(v.Mountpoint, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatalf("create a file in the volume's directory %s: %v", v.Mountpoint, err)
	}
	if err := f.Truncate(64 << 20); err != nil { // sparse: fast to make and to read
		t.Fatal(err)
	}
	f.Close()
	st := dockerapi.Stack{Project: "none", Images: []dockerapi.Image{{ID: imgID, RepoTags: []string{ref}}}}
	w := &daTruncateOnFirstWrite{path: big}
	_, err = c.ExportVolume(MustCtx(t), st, vol, w)
	if w.err != nil {
		t.Fatal(w.err)
	}
	t.Logf("received %d of ~%d bytes: %v", w.n, 64<<20, err)
	if !errors.Is(err, dockerapi.ErrVolumeExportIncomplete) || !strings.Contains(err.Error(), vol) {
		t.Fatalf("err = %v, want ErrVolumeExportIncomplete naming %s", err, vol)
	}
	daNoHelpers(t, cli, vol)
}
