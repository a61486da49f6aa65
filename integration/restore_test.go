//go:build integration

package integration_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// rsBigBytes is the size of the big incompressible file of the round trip.
const rsBigBytes = 100<<20 + 12345

// TestRestoreRoundTrip backs up a live stack — volumes holding files of
// various modes and numeric owners, symlinks, a hard link, empty
// directories and a file over 100 MiB, two images sharing a layer, a WAL
// SQLite database — removes its containers, volumes and images, restores
// the pack, and compares: each volume's content digest, every tag's config
// digest, the database's logical dump.
func TestRestoreRoundTrip(t *testing.T) {
	cli := dockertest.MustClient(t)
	eng := MustEngine(t)
	p := rsProject()
	appImg, workerImg := "dockpack-test/"+p+"-app:1", "dockpack-test/"+p+"-worker:1"
	dockertest.MustTestAppImage(t, cli, appImg)
	dockertest.MustDerivedImage(t, cli, appImg, workerImg, map[string][]byte{"/worker.txt": []byte("worker layer\n")})
	data, logs := rsVolume(t, cli, p, "data"), rsVolume(t, cli, p, "logs")
	t0 := time.Now()
	rsFill(t, eng, data, appImg, rsBigBytes)
	t.Logf("filled %s with %s in %s", data, units.BytesSize(rsBigBytes), time.Since(t0).Round(time.Millisecond))
	seed := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Image: appImg, Cmd: []string{"seedonce", "/v"},
		Mounts: []dockertest.Mount{{Type: "volume", Source: logs, Target: "/v"}}})
	dockertest.RunToCompletion(t, cli, seed, 30*time.Second)
	dockertest.ForceRemoveContainer(cli, seed)
	app := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Name: p + "_app_1", Image: appImg, Labels: dockertest.ComposeLabels(p, "app", 1), Start: true,
		Mounts: []dockertest.Mount{{Type: "volume", Source: data, Target: "/data"}, {Type: "volume", Source: logs, Target: "/logs"}}})
	worker := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Name: p + "_worker_1", Image: workerImg, Labels: dockertest.ComposeLabels(p, "worker", 1),
		Mounts: []dockertest.Mount{{Type: "volume", Source: logs, Target: "/logs"}}})
	db := rsDB(t)

	before := map[string]string{}
	var beforeLines []string
	for _, v := range []string{data, logs} {
		d, lines := rsDigest(t, cli, v, appImg)
		before[v] = d
		if v == data {
			beforeLines = lines
		}
	}
	t.Logf("content digest of %s over:\n  %s", data, strings.Join(beforeLines, "\n  "))
	dumpBefore := rsDump(t, db)
	target := MustTmpfs(t, 512<<20)

	t0 = time.Now()
	bres := rsBackup(t, eng, p, target, db)
	backupTook := time.Since(t0)
	t.Logf("backup: %s pack in %s (steps %v)", units.BytesSize(float64(bres.Bytes)), backupTook.Round(time.Millisecond), bres.Steps)
	digests := map[string]string{}
	for _, im := range bres.Manifest.Images {
		for _, tag := range im.RepoTags {
			digests[tag] = im.ConfigDigest
		}
	}
	if digests[appImg] == "" || digests[workerImg] == "" {
		t.Fatalf("images in the pack: %+v", bres.Manifest.Images)
	}

	// Everything goes: containers, volumes, images.
	for _, c := range []string{app, worker} {
		if err := dockertest.ForceRemoveContainer(cli, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{data, logs} {
		if err := eng.RemoveVolume(MustCtx(t), v, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, ref := range []string{workerImg, appImg} {
		if err := eng.RemoveImage(MustCtx(t), ref, true); err != nil {
			t.Fatal(err)
		}
		if dockertest.ImageExists(t, cli, ref) {
			t.Fatalf("%s still exists", ref)
		}
	}

	dest := filepath.Join(t.TempDir(), "restored-auth.db")
	t0 = time.Now()
	res, err := restore.Run(MustCtx(t), bres.Pack, restore.Spec{Engine: eng, SQLiteDest: dest, StagingDir: t.TempDir()})
	restoreTook := time.Since(t0)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	t.Logf("restore: verified %s in %s, then restored %s (images %s, volumes %s, sqlite %s); total %s",
		units.BytesSize(float64(res.Verify.Bytes)), res.Steps[progress.StepVerify].Round(time.Millisecond), units.BytesSize(float64(res.Bytes)),
		res.Steps[progress.StepImages].Round(time.Millisecond), res.Steps[progress.StepVolumes].Round(time.Millisecond),
		res.Steps[progress.StepSQLite].Round(time.Millisecond), restoreTook.Round(time.Millisecond))
	t.Logf("round trip: big file %d bytes, pack %d bytes (%s), restored %d bytes; backup %s + restore %s = %s",
		int64(rsBigBytes), bres.Bytes, units.BytesSize(float64(bres.Bytes)), res.Bytes, backupTook.Round(time.Millisecond), restoreTook.Round(time.Millisecond),
		(backupTook + restoreTook).Round(time.Millisecond))

	for tag, want := range digests {
		got, err := eng.ImageConfigDigest(MustCtx(t), tag)
		if err != nil || got != want {
			t.Errorf("%s: config digest %s (%v), want %s", tag, got, err, want)
		}
	}
	for _, v := range []string{data, logs} {
		got, lines := rsDigest(t, cli, v, appImg)
		if got != before[v] {
			if v == data {
				t.Errorf("volume %s differs after the restore:%s", v, daDiff(beforeLines, lines))
			} else {
				t.Errorf("volume %s differs after the restore", v)
			}
		}
		vol, err := eng.InspectVolume(MustCtx(t), v)
		if err != nil || vol.Labels[dockerapi.LabelProject] != p || vol.Labels[dockerapi.LabelVolume] == "" || vol.Labels[dockertest.Label] != "1" {
			t.Errorf("volume %s labels after the restore: %v %v", v, vol.Labels, err)
		}
	}
	if got := rsDump(t, dest); got != dumpBefore {
		t.Errorf("the restored database's dump differs (%d vs %d bytes)", len(got), len(dumpBefore))
	}
	if strings.Count(dumpBefore, "\n") < 1000 {
		t.Errorf("the dump is suspiciously small: %d lines", strings.Count(dumpBefore, "\n"))
	}
	rsNoLeftovers(t, cli, eng, data, logs)
	// The big file's mode line is there (a sanity check of the digest's input).
	if !strings.Contains(strings.Join(beforeLines, "\n"), "setuid.bin type=0 mode=4755 owner=0:0") ||
		!strings.Contains(strings.Join(beforeLines, "\n"), "hard type=0 mode=0640 owner=1000:1000") {
		t.Errorf("the digest did not see setuid or hard links:\n%s", strings.Join(beforeLines, "\n"))
	}
}

// TestRestoreCompose: `docker-compose up` adopts restored volumes — under
// a new project name beside the original, and under the same name after
// `down -v`.
func TestRestoreCompose(t *testing.T) {
	cli := dockertest.MustClient(t)
	eng := MustEngine(t)
	p, np := rsProject(), rsProject()
	img := "dockpack-test/" + p + "-app:1"
	dockertest.MustTestAppImage(t, cli, img)
	dir := t.TempDir()
	labels := "      dockpack.test: \"1\"\n      dockpack.test.owner: \"" + dockertest.Owner + "\"\n"
	compose := "version: \"2.4\"\nservices:\n  app:\n    image: " + img + "\n    command: [\"sleep\"]\n    network_mode: none\n" +
		"    volumes:\n      - data:/data\n    labels:\n" + labels + "volumes:\n  data:\n    labels:\n" + labels
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	rsForget(t, cli, p+"_data", np+"_data") // after compose down (cleanups run last-in first-out)
	for _, proj := range []string{p, np} {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_ = rsComposeQuiet(ctx, dir, proj, "down", "-v", "--timeout", "1")
		})
	}
	rsCompose(t, dir, p, "up", "-d")
	orig := rsContainerOf(t, cli, p, "app")
	dockertest.MustWriteVolume(t, cli, p+"_data", img, dockertest.MustTar(t,
		dockertest.TarEntry{Name: "hello.txt", Body: []byte("hello from " + p + "\n")},
		dockertest.TarEntry{Name: "conf/", UID: 1000, GID: 1000}))
	origDigest, _ := rsDigest(t, cli, p+"_data", img)
	target := MustTmpfs(t, 128<<20)
	res := rsBackup(t, eng, p, target, "", pack.ComponentVolumes, pack.ComponentImages)

	// 1. Under a new name, beside the original (still running).
	rr, err := restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: eng, Project: np, StagingDir: t.TempDir()})
	if err != nil {
		t.Fatalf("restore as %s: %v", np, err)
	}
	if rr.Plan.Volumes[0].Target != np+"_data" || rr.Plan.Images[0].Action != restore.ActionPresent {
		t.Fatalf("plan %+v", rr.Plan)
	}
	vol, err := eng.InspectVolume(MustCtx(t), np+"_data")
	if err != nil || vol.Labels[dockerapi.LabelProject] != np || vol.Labels[dockerapi.LabelVolume] != "data" {
		t.Fatalf("restored volume %+v %v", vol, err)
	}
	if _, ok := vol.Labels["com.docker.compose.config-hash"]; ok {
		t.Errorf("config-hash kept: %v", vol.Labels)
	}
	out := rsCompose(t, dir, np, "up", "-d")
	t.Logf("docker-compose -p %s up -d:\n%s", np, out)
	rsNoComposeComplaints(t, out, np+"_data")
	if got := rsReadFile(t, cli, rsContainerOf(t, cli, np, "app"), "/data/hello.txt"); got != "hello from "+p+"\n" {
		t.Errorf("%s sees %q", np, got)
	}
	if d, _ := rsDigest(t, cli, p+"_data", img); d != origDigest || !dockertest.Running(t, cli, orig) {
		t.Error("the original project's volume or container changed")
	}
	if d, _ := rsDigest(t, cli, np+"_data", img); d != origDigest {
		t.Error("the copy's content differs from the original")
	}

	// 2. The same name after `down -v`.
	rsCompose(t, dir, p, "down", "-v", "--timeout", "1")
	if _, err := eng.InspectVolume(MustCtx(t), p+"_data"); !errors.Is(err, dockerapi.ErrVolumeNotFound) {
		t.Fatalf("down -v left the volume: %v", err)
	}
	if _, err := restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: eng, StagingDir: t.TempDir()}); err != nil {
		t.Fatalf("restore as %s: %v", p, err)
	}
	out = rsCompose(t, dir, p, "up", "-d")
	t.Logf("docker-compose -p %s up -d:\n%s", p, out)
	rsNoComposeComplaints(t, out, p+"_data")
	if got := rsReadFile(t, cli, rsContainerOf(t, cli, p, "app"), "/data/hello.txt"); got != "hello from "+p+"\n" {
		t.Errorf("%s sees %q", p, got)
	}
	if d, _ := rsDigest(t, cli, p+"_data", img); d != origDigest {
		t.Error("the restored volume differs")
	}
	rsNoLeftovers(t, cli, eng, p+"_data", np+"_data")
}

// rsNoComposeComplaints fails when compose created the volume itself or
// warned about it instead of adopting the restored one.
func rsNoComposeComplaints(t testing.TB, out, volume string) {
	t.Helper()
	for _, bad := range []string{"already exists but was not created", "Creating volume", "has changed", "external: true"} {
		if strings.Contains(out, bad) {
			t.Errorf("docker-compose did not adopt %s (%q):\n%s", volume, bad, out)
		}
	}
}
