//go:build integration

package integration_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
	"github.com/dockpack/dockpack/mountcheck"
)

// bkStack is a compose-labelled stack built on the real engine:
//
//	<p>-app-1     (compose v2 name) running, image app:tag, volumes data + external ext,
//	              a bind mount and an anonymous volume
//	<p>_worker_1  (compose v1 name) exited, image worker:tag (shares app's base layer), volume logs
//	<p>-tool-1    created, never started, an untagged image
//	<p>_orphan    a project volume no container mounts
type bkStack struct {
	cli                          *dockertest.Client
	project                      string
	appImage, workerImage        string // refs
	untaggedID                   string
	app, worker, tool            string // container IDs
	data, logs, orphan, external string // volume names
	composeFile                  string
}

func bkNewStack(t *testing.T) *bkStack {
	t.Helper()
	cli := dockertest.MustClient(t)
	s := &bkStack{cli: cli, project: strings.ToLower(dockertest.Unique("dpk"))}
	p := s.project
	s.appImage = "dockpack-test/" + p + "-app:1"
	s.workerImage = "dockpack-test/" + p + "-worker:1"
	dockertest.MustTestAppImage(t, cli, s.appImage)
	dockertest.MustDerivedImage(t, cli, s.appImage, s.workerImage, map[string][]byte{"/worker.txt": []byte("worker layer\n")})
	untaggedRef := "dockpack-test/" + p + "-tool:1"
	s.untaggedID = dockertest.MustDerivedImage(t, cli, s.appImage, untaggedRef, map[string][]byte{"/tool.txt": []byte("tool layer\n")})

	s.data, s.logs, s.orphan = p+"_data", p+"_logs", p+"_orphan"
	s.external = dockertest.Unique("dockpack-test-ext")
	for _, v := range []string{s.data, s.logs, s.orphan} {
		dockertest.MustVolume(t, cli, v, dockertest.ComposeVolumeLabels(p, strings.TrimPrefix(v, p+"_")))
	}
	dockertest.MustVolume(t, cli, s.external, nil)
	for _, v := range []string{s.data, s.logs, s.orphan, s.external} {
		bkSeed(t, cli, s.appImage, v)
	}

	dir := t.TempDir()
	s.composeFile = filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(s.composeFile, []byte("version: '3'\nservices:\n  app:\n    image: "+s.appImage+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("APP_ENV=test\n"), 0o644)
	labels := func(svc string) map[string]string {
		l := dockertest.ComposeLabels(p, svc, 1)
		l["com.docker.compose.project.config_files"] = s.composeFile
		l["com.docker.compose.project.working_dir"] = dir
		return l
	}
	bind := t.TempDir()
	s.app = dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "-app-1", Image: s.appImage, Labels: labels("app"), Start: true,
		Mounts: []dockertest.Mount{
			{Type: "volume", Source: s.data, Target: "/data"},
			{Type: "volume", Source: s.external, Target: "/ext"},
			{Type: "bind", Source: bind, Target: "/conf"},
			{Type: "volume", Target: "/cache"}, // anonymous
		},
	})
	s.worker = dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "_worker_1", Image: s.workerImage, Labels: labels("worker"), Start: true,
		Mounts: []dockertest.Mount{{Type: "volume", Source: s.logs, Target: "/logs"}},
	})
	dockertest.StopContainer(t, cli, s.worker)
	s.tool = dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "-tool-1", Image: s.untaggedID, Labels: labels("tool"),
	})
	// Move the tool image's only tag to another image: the container keeps
	// it alive, untagged, under its ID.
	if err := cli.ImageTag(context.Background(), s.appImage, untaggedRef); err != nil {
		t.Fatalf("retag %s: %v", untaggedRef, err)
	}
	return s
}

// bkSeed fills a volume with a few files through a short-lived container.
func bkSeed(t *testing.T, cli *dockertest.Client, image, volume string) {
	t.Helper()
	id := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Image: image, Cmd: []string{"seedonce", "/v"},
		Mounts: []dockertest.Mount{{Type: "volume", Source: volume, Target: "/v"}},
	})
	dockertest.RunToCompletion(t, cli, id, 30*time.Second)
	bkRemoveContainer(t, cli, id)
}

func bkRemoveContainer(t *testing.T, cli *dockertest.Client, id string) {
	t.Helper()
	if err := dockertest.ForceRemoveContainer(cli, id); err != nil {
		t.Fatalf("remove container %s: %v", id, err)
	}
}

func bkSpec(t *testing.T, s *bkStack, target string) backup.Spec {
	return backup.Spec{
		Engine:     MustEngine(t),
		Project:    s.project,
		Target:     target,
		Policy:     tmpfsPolicy,
		SQLitePath: MustSmallDB(t, ""),
		StagingDir: t.TempDir(),
	}
}

// bkAssertNoPack fails if target holds anything (a pack or a partial dir).
func bkAssertNoPack(t *testing.T, target string) {
	t.Helper()
	ents, err := os.ReadDir(target)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("target %s still holds %s", target, e.Name())
	}
}

func TestBackupFullPackFromLiveStack(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 512<<20)
	spec := bkSpec(t, s, target)
	spec.StopServices = []string{"app"}
	var last atomic.Int64
	res, err := backup.Run(context.Background(), spec, func(p progress.Report) {
		if int64(p.Percent) < last.Load() {
			t.Errorf("progress went backwards: %d after %d", p.Percent, last.Load())
		}
		last.Store(int64(p.Percent))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pack %s: %d bytes in %v (steps %v)", res.Name, res.Bytes, res.Duration, res.Steps)
	m := res.Manifest

	// Resolved by label: v2 and v1 names, the created container's untagged image.
	var tags []string
	var untagged bool
	for _, im := range m.Images {
		tags = append(tags, im.RepoTags...)
		if im.ID == s.untaggedID && len(im.RepoTags) == 0 {
			untagged = true
		}
	}
	if !strings.Contains(strings.Join(tags, " "), s.appImage) || !strings.Contains(strings.Join(tags, " "), s.workerImage) || !untagged {
		t.Fatalf("images in manifest: %+v", m.Images)
	}
	vols := map[string]pack.VolumeEntry{}
	for _, v := range m.Volumes {
		vols[v.Name] = v
	}
	for _, name := range []string{s.data, s.logs, s.orphan, s.external} {
		if _, ok := vols[name]; !ok {
			t.Errorf("volume %s missing from the pack (have %v)", name, m.Volumes)
		}
	}
	if !vols[s.external].External || vols[s.data].External {
		t.Errorf("external flags wrong: %+v", m.Volumes)
	}
	if vols[s.orphan].Size == 0 {
		t.Errorf("orphan volume exported empty: %+v", vols[s.orphan])
	}
	kinds := map[string]bool{}
	for _, sk := range m.Skipped {
		kinds[sk.Kind] = true
	}
	if !kinds["bind"] || !kinds["anonymous"] {
		t.Errorf("skipped: %+v", m.Skipped)
	}
	if _, ok := m.File("compose/docker-compose.yml"); !ok {
		t.Errorf("compose file not in pack: %+v", m.Files)
	}
	if _, ok := m.File("compose/.env"); !ok {
		t.Errorf(".env not in pack: %+v", m.Files)
	}
	if !dockertest.Running(t, s.cli, s.app) {
		t.Error("app is not running after the backup")
	}

	// sha256sum -c inside the pack.
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = res.Pack
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}

	// One ImageSave for all images: smaller than the images saved one by one.
	eng := MustEngine(t)
	var separate int64
	for _, ref := range []string{s.appImage, s.workerImage, s.untaggedID} {
		sr, err := eng.SaveImages(context.Background(), []string{ref}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		separate += sr.Bytes
	}
	fe, _ := m.File(pack.ImagesFile)
	t.Logf("images.tar %d bytes; saved separately %d bytes", fe.Size, separate)
	if fe.Size >= separate {
		t.Errorf("images.tar (%d) is not smaller than separate saves (%d): shared layers stored twice?", fe.Size, separate)
	}

	// `docker load -i images.tar` (the real CLI, as an operator would) restores
	// both tags after the images are gone.
	for _, c := range []string{s.app, s.worker} {
		if err := dockertest.ForceRemoveContainer(s.cli, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, ref := range []string{s.appImage, s.workerImage} {
		if err := eng.RemoveImage(context.Background(), ref, true); err != nil {
			t.Fatalf("remove %s: %v", ref, err)
		}
	}
	out, err := exec.Command("docker", "load", "-i", filepath.Join(res.Pack, pack.ImagesFile)).CombinedOutput()
	if err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	for _, im := range m.Images {
		for _, tag := range im.RepoTags {
			d, err := eng.ImageConfigDigest(context.Background(), tag)
			if err != nil || d != im.ConfigDigest {
				t.Errorf("after docker load, %s has config digest %q (%v), manifest says %s", tag, d, err, im.ConfigDigest)
			}
		}
	}
}

func TestBackupUnknownProject(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 64<<20)
	spec := bkSpec(t, s, target)
	spec.Project = "no-such-project-" + s.project
	_, err := backup.Run(context.Background(), spec, nil)
	var pnf *dockerapi.ProjectNotFoundError
	if !errors.As(err, &pnf) || !errors.Is(err, backup.ErrPrecheck) {
		t.Fatalf("err = %v, want ProjectNotFoundError at precheck", err)
	}
	if !strings.Contains(err.Error(), s.project) {
		t.Fatalf("the error does not name the known project %s: %v", s.project, err)
	}
	bkAssertNoPack(t, target)
}

func TestBackupRefusesTargetOfWrongFSType(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 64<<20)
	spec := bkSpec(t, s, target)
	spec.Policy = mountcheck.Policy{} // default: cifs or smb3
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, mountcheck.ErrFSType) || !errors.Is(err, backup.ErrPrecheck) {
		t.Fatalf("err = %v, want ErrFSType at precheck", err)
	}
	t.Logf("refusal: %v", err)
	bkAssertNoPack(t, target)
}

func TestBackupRefusesTooSmallTarget(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 2<<20)
	_, err := backup.Run(context.Background(), bkSpec(t, s, target), nil)
	if !errors.Is(err, mountcheck.ErrInsufficientSpace) || !errors.Is(err, backup.ErrPrecheck) {
		t.Fatalf("err = %v, want ErrInsufficientSpace at precheck", err)
	}
	if !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("the refusal does not give need/free in human units: %v", err)
	}
	t.Logf("refusal: %v", err)
	bkAssertNoPack(t, target)
}

func TestBackupTargetFillsUpMidWrite(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 6<<20) // the images alone are ~10 MiB
	spec := bkSpec(t, s, target)
	spec.Hooks.AdjustEstimate = func(e backup.Estimate) backup.Estimate { return backup.Estimate{} }
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, syscall.ENOSPC) || backup.ErrorCode(err) != "no_space_left" {
		t.Fatalf("err = %v (code %s), want ENOSPC", err, backup.ErrorCode(err))
	}
	t.Logf("failure: %v", err)
	bkAssertNoPack(t, target)
}

func TestBackupTargetUnmountedMidWrite(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 256<<20)
	spec := bkSpec(t, s, target)
	spec.PinCheckBytes = 256 << 10
	var once sync.Once
	spec.Hooks.WrapWriter = func(step progress.Step, item string, w io.Writer) io.Writer {
		if step != progress.StepImages {
			return w
		}
		return bkAfterBytes(w, 1<<20, func() {
			once.Do(func() {
				if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil {
					t.Errorf("umount -l %s: %v", target, err)
				}
			})
		})
	}
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, mountcheck.ErrMountChanged) || backup.FailedStep(err) != progress.StepImages {
		t.Fatalf("err = %v, want ErrMountChanged in the images step", err)
	}
	t.Logf("failure: %v", err)
	bkAssertNoPack(t, target) // the mount point on the root fs holds nothing either
}

func TestBackupCancelDuringVolumeStep(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 256<<20)
	spec := bkSpec(t, s, target)
	spec.StopServices = []string{"app"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sawStopped atomic.Bool
	spec.Hooks.WrapWriter = func(step progress.Step, item string, w io.Writer) io.Writer {
		if step != progress.StepVolumes {
			return w
		}
		return bkAfterBytes(w, 1, func() {
			sawStopped.Store(!dockertest.Running(t, s.cli, s.app))
			cancel()
		})
	}
	_, err := backup.Run(ctx, spec, nil)
	if !errors.Is(err, context.Canceled) || backup.FailedStep(err) != progress.StepVolumes {
		t.Fatalf("err = %v, want canceled in the volumes step", err)
	}
	if !sawStopped.Load() {
		t.Error("app was running during its volume's export although listed in StopServices")
	}
	if !dockertest.Running(t, s.cli, s.app) {
		t.Error("app was not started again after the cancel")
	}
	bkAssertNoPack(t, target)
}

func TestBackupCancelDuringImageStep(t *testing.T) {
	s := bkNewStack(t)
	target := MustTmpfs(t, 256<<20)
	spec := bkSpec(t, s, target)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec.Hooks.WrapWriter = func(step progress.Step, item string, w io.Writer) io.Writer {
		if step != progress.StepImages {
			return w
		}
		return bkAfterBytes(w, 1<<20, cancel)
	}
	t0 := time.Now()
	_, err := backup.Run(ctx, spec, nil)
	if !errors.Is(err, context.Canceled) || backup.FailedStep(err) != progress.StepImages {
		t.Fatalf("err = %v, want canceled in the images step", err)
	}
	t.Logf("canceled run returned after %v", time.Since(t0))
	bkAssertNoPack(t, target)
}

func TestBackupStopsWriterDuringItsVolumeExport(t *testing.T) {
	s := bkNewStack(t)
	// A writer service appending to a file in its own volume every 10 ms.
	wvol := s.project + "_wdata"
	dockertest.MustVolume(t, s.cli, wvol, dockertest.ComposeVolumeLabels(s.project, "wdata"))
	writer := dockertest.MustContainer(t, s.cli, dockertest.ContainerSpec{
		Name: s.project + "-writer-1", Image: s.appImage, Cmd: []string{"writer", "/w/log.txt"},
		Labels: dockertest.ComposeLabels(s.project, "writer", 1), Start: true,
		Mounts: []dockertest.Mount{{Type: "volume", Source: wvol, Target: "/w"}},
	})
	target := MustTmpfs(t, 256<<20)
	spec := bkSpec(t, s, target)
	spec.StopServices = []string{"writer"}
	spec.Components = []pack.Component{pack.ComponentVolumes}
	spec.SQLitePath = ""
	var runningDuringExport atomic.Int32
	spec.Hooks.WrapWriter = func(step progress.Step, item string, w io.Writer) io.Writer {
		if item != wvol {
			return w
		}
		return bkAfterBytes(w, 1, func() {
			if dockertest.Running(t, s.cli, writer) {
				runningDuringExport.Add(1)
			}
		})
	}
	res, err := backup.Run(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if runningDuringExport.Load() != 0 {
		t.Error("the writer ran while its volume was exported")
	}
	if !dockertest.Running(t, s.cli, writer) {
		t.Error("the writer was not started again")
	}
	if v, ok := res.Manifest.File("volumes/" + wvol + ".tar"); !ok || v.Size == 0 {
		t.Errorf("writer volume not in the pack: %+v", res.Manifest.Files)
	}
}

func TestBackupTruncatedImageSave(t *testing.T) {
	s := bkNewStack(t)
	cases := []struct {
		name  string
		fault dockertest.Fault
	}{
		{"truncated", dockertest.Fault{Method: "GET", Path: dockertest.PathImageSave, AfterBytes: 2 << 20, Action: dockertest.Truncate}},
		{"engine error appended", dockertest.Fault{Method: "GET", Path: dockertest.PathImageSave, AfterBytes: 2 << 20, Action: dockertest.Append,
			Data: []byte(`{"errorDetail":{"message":"write /var/lib/docker/tmp/docker-export: no space left on device"},"error":"no space left on device"}`)}},
		{"connection aborted", dockertest.Fault{Method: "GET", Path: dockertest.PathImageSave, AfterBytes: 2 << 20, Action: dockertest.Abort}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy := dockertest.NewFaultProxy(t, "", tc.fault)
			target := MustTmpfs(t, 256<<20)
			spec := bkSpec(t, s, target)
			spec.Engine = MustEngineAt(t, proxy.Host())
			_, err := backup.Run(context.Background(), spec, nil)
			if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || backup.FailedStep(err) != progress.StepImages {
				t.Fatalf("err = %v, want ErrImageSaveIncomplete in the images step", err)
			}
			if proxy.Hits() == 0 {
				t.Fatal("the fault was never applied")
			}
			t.Logf("failure: %v", err)
			bkAssertNoPack(t, target)
		})
	}
}

func TestBackupVolumeExportBrokenMidway(t *testing.T) {
	s := bkNewStack(t)
	// The engine gzips archive answers for clients that accept it (the SDK
	// does), and the seeded volumes compress to about a kilobyte: cut early.
	proxy := dockertest.NewFaultProxy(t, "", dockertest.Fault{Method: "GET", Path: dockertest.PathArchive, AfterBytes: 300, Action: dockertest.Truncate})
	target := MustTmpfs(t, 256<<20)
	spec := bkSpec(t, s, target)
	spec.Engine = MustEngineAt(t, proxy.Host())
	spec.Components = []pack.Component{pack.ComponentVolumes}
	spec.SQLitePath = ""
	res, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, dockerapi.ErrVolumeExportIncomplete) || backup.FailedStep(err) != progress.StepVolumes {
		if res != nil {
			t.Logf("files: %+v", res.Manifest.Files)
		}
		t.Fatalf("err = %v (fault hits %d), want ErrVolumeExportIncomplete in the volumes step", err, proxy.Hits())
	}
	if !strings.Contains(err.Error(), s.project) {
		t.Fatalf("the error does not name the volume: %v", err)
	}
	t.Logf("failure: %v", err)
	bkAssertNoPack(t, target)
}

// bkAfterBytes calls fn once, right after the writes through it pass n bytes.
func bkAfterBytes(w io.Writer, n int64, fn func()) io.Writer {
	return &bkTrigger{w: w, n: n, fn: fn}
}

type bkTrigger struct {
	w    io.Writer
	n    int64
	seen int64
	done bool
	fn   func()
}

func (b *bkTrigger) Write(p []byte) (int, error) {
	k, err := b.w.Write(p)
	b.seen += int64(k)
	if !b.done && b.seen >= b.n {
		b.done = true
		b.fn()
	}
	return k, err
}
