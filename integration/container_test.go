//go:build integration

package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// opImage builds dockpack's container image the way `make image` does —
// a static binary, the CA bundle and an empty /tmp (1777) in a FROM-scratch
// image, with the repository's Dockerfile — labelled for the sweep and
// removed in t.Cleanup. Nothing is pulled.
func opImage(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	ctxDir := t.TempDir()
	rootfs := filepath.Join(ctxDir, "rootfs")
	for _, d := range []string{"usr/local/bin", "etc/ssl/certs", "tmp", "var/lib/dockpack"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-tags", "timetzdata", "-ldflags", "-s -w",
		"-o", filepath.Join(rootfs, "usr/local/bin/dockpack"), "./cmd/dockpack")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dockpack: %v\n%s", err, out)
	}
	for src, dst := range map[string]string{
		"/etc/ssl/certs/ca-certificates.crt": filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"),
		filepath.Join(root, "Dockerfile"):    filepath.Join(ctxDir, "Dockerfile"),
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ref := "dockpack-test/" + strings.ToLower(dockertest.Unique("op-image")) + ":1"
	args := []string{"build", "-q", "-t", ref}
	// The owner's label first: the legacy builder adds one LABEL step per
	// --label, and an intermediate image labelled dockpack.test=1 without
	// its owner is debris to another test process's sweep, which removed
	// it mid-build ("unknown parent image ID").
	labels := dockertest.Labels()
	args = append(args, "--label", dockertest.OwnerLabel+"="+labels[dockertest.OwnerLabel])
	for k, v := range labels {
		if k != dockertest.OwnerLabel {
			args = append(args, "--label", k+"="+v)
		}
	}
	cmd := exec.Command("docker", append(args, ctxDir)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker build %s: %v\n%s", ref, err, out)
	}
	cli := dockertest.MustClient(t)
	t.Cleanup(func() { dockertest.RemoveImage(t, cli, ref) })
	if !dockertest.ImageExists(t, cli, ref) {
		t.Fatalf("docker build said %s, but there is no image %s", bytes.TrimSpace(out), ref)
	}
	return ref
}

// opLogs returns a container's output (the docker CLI: the fixtures have no
// log reader, and nothing but the test's diagnostics needs it).
func opLogs(id string) string {
	out, _ := exec.Command("docker", "logs", id).CombinedOutput()
	return string(out)
}

// opRun runs the image with cmd and mounts to completion (exit 0 expected)
// and returns its output.
func opRun(t *testing.T, cli *dockertest.Client, image string, mounts []dockertest.Mount, cmd ...string) string {
	t.Helper()
	id := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Image: image, Cmd: cmd, Mounts: mounts})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of dockpack %s in the container:\n%s", strings.Join(cmd, " "), opLogs(id))
		}
	})
	dockertest.RunToCompletion(t, cli, id, 3*time.Minute)
	return opLogs(id)
}

// dockpack runs inside its container with the docker socket, a tmpfs target
// and the database directory bind-mounted: the pack appears on the host side
// of the bind mount, complete and verifiable there — no path crosses the
// container boundary, so the post-mortem's container/host confusion cannot
// happen. Then doctor, inside the container, checks the container's staging.
func TestContainerBackupIntoBindMountedTarget(t *testing.T) {
	t0 := time.Now()
	image := opImage(t)
	t.Logf("image %s built in %v", image, time.Since(t0).Round(time.Millisecond))
	s := opNewStack(t)
	target := MustTmpfs(t, 128<<20)
	dbDir := filepath.Dir(s.db)
	mounts := []dockertest.Mount{
		{Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
		{Type: "bind", Source: target, Target: "/target"},
		{Type: "bind", Source: dbDir, Target: dbDir}, // same path inside and out, read-write (WAL)
	}

	t1 := time.Now()
	out := opRun(t, s.cli, image, mounts, "backup", "--project", s.project, "--target", "/target", "--fstype", "tmpfs",
		"--sqlite", s.db, "--staging-dir", "/tmp", "--json", "--log-level", "warn")
	t.Logf("backup inside the container took %v", time.Since(t1).Round(time.Millisecond))

	// The result as the container saw it: a pack under /target.
	var done map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev["event"] == "done" {
			done = ev
		}
	}
	if done == nil {
		t.Fatalf("no done event in the container's output:\n%s", out)
	}
	inside, _ := done["pack"].(string)
	if !strings.HasPrefix(inside, "/target/"+pack.NamePrefix) {
		t.Fatalf("the container wrote its pack to %q, want under /target", inside)
	}

	// The same pack on the host side of the bind mount, complete.
	packs, partials := TargetDirs(t, target)
	if len(packs) != 1 || len(partials) != 0 || packs[0] != filepath.Base(inside) {
		t.Fatalf("host side of the target: packs %v, partial %v; the container reported %s", packs, partials, inside)
	}
	packDir := filepath.Join(target, packs[0])
	m, hash, err := pack.ReadManifest(context.Background(), packDir)
	if err != nil {
		t.Fatal(err)
	}
	if hash != done["package_hash"] {
		t.Errorf("package hash on the host %s, the container reported %v", hash, done["package_hash"])
	}
	if m.Project != s.project || !slices.Equal(m.Contents, []pack.Component{pack.ComponentDB, pack.ComponentVolumes, pack.ComponentImages}) {
		t.Errorf("manifest: project %s contents %v", m.Project, m.Contents)
	}
	if len(m.Volumes) != 1 || m.Volumes[0].Name != s.volume || len(m.Images) != 1 || m.SQLite == nil || m.SQLite.Source != s.db {
		t.Errorf("manifest volumes %+v images %+v sqlite %+v", m.Volumes, m.Images, m.SQLite)
	}

	// Verify on the host: every line of SHA256SUMS against the file's bytes.
	f, err := os.Open(filepath.Join(packDir, pack.SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := pack.ParseSums(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, sum := range sums {
		got, n, err := fsutil.HashFile(context.Background(), filepath.Join(packDir, filepath.FromSlash(sum.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if got != sum.SHA256 {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", sum.Path, got, sum.SHA256)
		}
		total += n
	}
	if len(sums) != len(m.Files)+1 {
		t.Errorf("SHA256SUMS has %d lines, the manifest lists %d files (+ manifest.json)", len(sums), len(m.Files))
	}
	t.Logf("pack %s verified on the host: %d files, %d bytes", packs[0], len(sums), total)

	// doctor inside the container: the staging it checks is the container's /tmp.
	out = opRun(t, s.cli, image, mounts, "doctor", "--json", "--project", s.project, "--target", "/target", "--fstype", "tmpfs",
		"--sqlite", s.db, "--staging-dir", "/tmp", "--no-images", "--log-level", "error")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
		t.Fatalf("doctor's report: %v\n%s", err, out)
	}
	st, _ := rep.Check(doctor.CheckStaging)
	if st.Status != check.OK || opEvidence(st, "path") != "/tmp" || opEvidence(st, "free") == "" {
		t.Errorf("staging inside the container: %+v", st)
	}
	if tg, _ := rep.Check(doctor.CheckTarget); tg.Status != check.OK || opEvidence(tg, "mount_point") != "/target" || opEvidence(tg, "fstype") != "tmpfs" {
		t.Errorf("target inside the container: %+v", tg)
	}
	if p, _ := rep.Check(doctor.CheckPacks); !strings.Contains(opEvidence(p, "newest"), packs[0]) {
		t.Errorf("packs inside the container: %+v", p)
	}
}
