package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Client is the SDK client the fixtures work with. The alias lets tests
// outside dockerapi name it without importing the SDK themselves.
type Client = client.Client

// OpTimeout bounds each engine call a fixture makes.
var OpTimeout = 2 * time.Minute

// TestAppPackage is the Go package built into the test images.
const TestAppPackage = "github.com/dockpack/dockpack/internal/testapp"

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), OpTimeout)
}

// Unique returns prefix + "-" + 8 random hex digits: a name no other test
// (or a concurrent run) uses. Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// MustClient returns an SDK client from the environment (API version
// negotiated), failing the test when the engine does not answer. It is
// closed in t.Cleanup.
func MustClient(t testing.TB) *Client {
	t.Helper()
	cli, err := NewClient()
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	ctx, cancel := opCtx()
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		t.Fatalf("the Docker Engine at %s does not answer: %v", cli.DaemonHost(), err)
	}
	cli.NegotiateAPIVersion(ctx)
	t.Cleanup(func() { cli.Close() })
	return cli
}

var testApp struct {
	once sync.Once
	bin  []byte
	err  error
}

// TestAppBinary builds internal/testapp (CGO_ENABLED=0, static) once per
// process and returns the executable's bytes (no file is left behind).
func TestAppBinary(t testing.TB) []byte {
	t.Helper()
	testApp.once.Do(func() {
		dir, err := os.MkdirTemp("", "dockpack-testapp-")
		if err != nil {
			testApp.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "testapp")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, TestAppPackage)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if msg, err := cmd.CombinedOutput(); err != nil {
			testApp.err = fmt.Errorf("go build %s: %v\n%s", TestAppPackage, err, msg)
			return
		}
		testApp.bin, testApp.err = os.ReadFile(out)
	})
	if testApp.err != nil {
		t.Fatalf("build the test app: %v", testApp.err)
	}
	return testApp.bin
}

// MustTestAppImage imports an image holding only /testapp (plus /tmp),
// with ENTRYPOINT ["/testapp"], CMD ["sleep"] and the labels dockpack.test=1
// and extraLabels (key, value pairs). It is removed in t.Cleanup. Returns
// the image ID. Images imported from the same binary share their one layer.
func MustTestAppImage(t testing.TB, cli *Client, ref string, extraLabels ...string) string {
	t.Helper()
	bin := TestAppBinary(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(1700000000, 0)
	must := func(err error) {
		if err != nil {
			t.Fatalf("build image tar: %v", err)
		}
	}
	must(tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: now}))
	must(tw.WriteHeader(&tar.Header{Name: "testapp", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin)), ModTime: now}))
	_, err := tw.Write(bin)
	must(err)
	must(tw.Close())

	changes := []string{`ENTRYPOINT ["/testapp"]`, `CMD ["sleep"]`}
	for k, v := range Labels(extraLabels...) {
		changes = append(changes, fmt.Sprintf("LABEL %s=%s", strconv.Quote(k), strconv.Quote(v)))
	}
	sort.Strings(changes[2:])
	ctx, cancel := opCtx()
	defer cancel()
	body, err := cli.ImageImport(ctx, image.ImportSource{Source: &buf, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		t.Fatalf("import image %s: %v", ref, err)
	}
	msg, _ := io.ReadAll(body)
	body.Close()
	if bytes.Contains(msg, []byte(`"error"`)) {
		t.Fatalf("import image %s: %s", ref, msg)
	}
	ii, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("inspect imported image %s: %v", ref, err)
	}
	t.Cleanup(func() { removeImage(t, cli, ii.ID) })
	return ii.ID
}

// MustDerivedImage commits a container created from baseRef with files
// (path → content, mode 0644, parents created) copied in, tagged ref. The
// result shares all of baseRef's layers and adds one. Removed in t.Cleanup
// (before the base, cleanups run last-in first-out). Returns the image ID.
func MustDerivedImage(t testing.TB, cli *Client, baseRef, ref string, files map[string][]byte) string {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: baseRef, Labels: Labels()}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create container from %s: %v", baseRef, err)
	}
	defer func() {
		_ = cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}()
	entries := make([]TarEntry, 0, len(files))
	for name, data := range files {
		entries = append(entries, TarEntry{Name: strings.TrimPrefix(name, "/"), Body: data, Mode: 0o644})
	}
	if err := cli.CopyToContainer(ctx, created.ID, "/", bytes.NewReader(MustTar(t, entries...)), container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("copy files into container from %s: %v", baseRef, err)
	}
	res, err := cli.ContainerCommit(ctx, created.ID, container.CommitOptions{Reference: ref, Changes: []string{"LABEL " + Label + "=" + LabelValue, "LABEL " + OwnerLabel + "=" + Owner}})
	if err != nil {
		t.Fatalf("commit %s: %v", ref, err)
	}
	t.Cleanup(func() { removeImage(t, cli, res.ID) })
	return res.ID
}

func removeImage(t testing.TB, cli *Client, id string) {
	ctx, cancel := opCtx()
	defer cancel()
	if _, err := cli.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		t.Logf("cleanup: remove image %s: %v", id, err)
	}
}

// RemoveImage removes an image by ID or reference (force, children
// pruned); a missing image is fine.
func RemoveImage(t testing.TB, cli *Client, ref string) {
	t.Helper()
	removeImage(t, cli, ref)
}

// ImageExists reports whether ref names an image on the engine.
func ImageExists(t testing.TB, cli *Client, ref string) bool {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	_, err := cli.ImageInspect(ctx, ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect image %s: %v", ref, err)
	}
	return err == nil
}

// MustVolume creates a volume labelled dockpack.test=1 plus labels; it is
// removed (forcibly) in t.Cleanup.
func MustVolume(t testing.TB, cli *Client, name string, labels map[string]string) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	lbl := Labels()
	for k, v := range labels {
		lbl[k] = v
	}
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: lbl}); err != nil {
		t.Fatalf("create volume %s: %v", name, err)
	}
	t.Cleanup(func() { RemoveVolume(t, cli, name) })
}

// RemoveVolume removes a volume, forcibly; a missing one is fine.
func RemoveVolume(t testing.TB, cli *Client, name string) {
	ctx, cancel := opCtx()
	defer cancel()
	if err := cli.VolumeRemove(ctx, name, true); err != nil && !cerrdefs.IsNotFound(err) {
		t.Logf("cleanup: remove volume %s: %v", name, err)
	}
}

// Mount is a mount of a test container.
type Mount struct {
	Type     string // "volume" (Source empty: anonymous), "bind" or "tmpfs"
	Source   string // volume name or host path
	Target   string // path in the container
	ReadOnly bool
	NoCopy   bool // volumes: don't copy the image's content at Target into a new volume
}

// ContainerSpec describes a test container.
type ContainerSpec struct {
	Name       string // empty: the engine picks one
	Image      string
	Entrypoint []string          // empty: the image's
	Cmd        []string          // empty: the image's ("sleep" for test-app images)
	Labels     map[string]string // dockpack.test=1 is always added
	Mounts     []Mount
	Start      bool // start it and wait until it runs
}

// MustContainer creates (and optionally starts) a container; it is removed
// with its anonymous volumes in t.Cleanup. Returns the container ID.
func MustContainer(t testing.TB, cli *Client, s ContainerSpec) string {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	lbl := Labels()
	for k, v := range s.Labels {
		lbl[k] = v
	}
	cfg := &container.Config{Image: s.Image, Labels: lbl, Cmd: s.Cmd, Entrypoint: s.Entrypoint, StopSignal: "SIGTERM"}
	hc := &container.HostConfig{NetworkMode: "none"}
	for _, m := range s.Mounts {
		mm := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		if m.NoCopy && mm.Type == mount.TypeVolume {
			mm.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
		}
		hc.Mounts = append(hc.Mounts, mm)
	}
	created, err := cli.ContainerCreate(ctx, cfg, hc, &network.NetworkingConfig{}, nil, s.Name)
	if err != nil {
		t.Fatalf("create container %q from %s: %v", s.Name, s.Image, err)
	}
	t.Cleanup(func() {
		ctx, cancel := opCtx()
		defer cancel()
		if err := cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Logf("cleanup: remove container %s: %v", s.Name, err)
		}
	})
	if s.Start {
		if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
			t.Fatalf("start container %q: %v", s.Name, err)
		}
		WaitState(t, cli, created.ID, true, 30*time.Second)
	}
	return created.ID
}

// StartContainer starts a container and waits until it runs.
func StartContainer(t testing.TB, cli *Client, id string) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", id, err)
	}
	WaitState(t, cli, id, true, 30*time.Second)
}

// StopContainer stops a container (grace 5 s) and waits until it is down.
func StopContainer(t testing.TB, cli *Client, id string) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	secs := 5
	if err := cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		t.Fatalf("stop container %s: %v", id, err)
	}
	WaitState(t, cli, id, false, 30*time.Second)
}

// Running reports whether the container's process runs (also when paused).
func Running(t testing.TB, cli *Client, id string) bool {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	ci, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatalf("inspect container %s: %v", id, err)
	}
	return ci.State != nil && ci.State.Running
}

// WaitState polls until the container runs (wantRunning) or does not,
// failing the test at the deadline with the state last seen.
func WaitState(t testing.TB, cli *Client, id string, wantRunning bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := "unknown"
	for {
		ctx, cancel := opCtx()
		ci, err := cli.ContainerInspect(ctx, id)
		cancel()
		if err != nil {
			t.Fatalf("inspect container %s: %v", id, err)
		}
		if ci.State != nil {
			last = string(ci.State.Status)
			if ci.State.Running == wantRunning {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: still %s after %v (want running=%v)", id, last, timeout, wantRunning)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ComposeLabels returns the labels compose puts on a container of project's
// service (number is the replica, "1" for the first), including the config
// files and working dir labels (a fictitious /srv/<project>).
func ComposeLabels(project, service string, number int) map[string]string {
	return map[string]string{
		"com.docker.compose.project":              project,
		"com.docker.compose.service":              service,
		"com.docker.compose.container-number":     strconv.Itoa(number),
		"com.docker.compose.oneoff":               "False",
		"com.docker.compose.version":              "1.29.2",
		"com.docker.compose.config-hash":          "0000000000000000000000000000000000000000000000000000000000000000",
		"com.docker.compose.project.config_files": "/srv/" + project + "/docker-compose.yml",
		"com.docker.compose.project.working_dir":  "/srv/" + project,
	}
}

// ComposeVolumeLabels returns the labels compose puts on a project volume.
func ComposeVolumeLabels(project, volume string) map[string]string {
	return map[string]string{
		"com.docker.compose.project": project,
		"com.docker.compose.volume":  volume,
		"com.docker.compose.version": "1.29.2",
	}
}

// TarEntry is one entry for MustTar. Type defaults to a regular file (a
// directory when Name ends in "/").
type TarEntry struct {
	Name     string
	Type     byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink …
	Body     []byte
	Mode     int64 // permission bits (+ setuid/setgid/sticky); 0: 0644 files, 0755 dirs
	UID, GID int
	Linkname string // symlink target or hard-link target (an earlier Name)
}

// MustTar builds a tar stream (with its end-of-archive marker) from entries.
func MustTar(t testing.TB, entries ...TarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Uid: e.UID, Gid: e.GID, Linkname: e.Linkname, ModTime: mtime, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			if strings.HasSuffix(e.Name, "/") {
				h.Typeflag = tar.TypeDir
			}
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Body); err != nil {
				t.Fatalf("tar body %s: %v", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("tar close: %v", err)
	}
	return buf.Bytes()
}

// MustWriteVolume extracts the tar stream into the volume (at its root,
// owners and modes as in the tar) through a container created — never
// started — from image.
func MustWriteVolume(t testing.TB, cli *Client, volume, image string, tarStream []byte) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Labels: Labels()}, &container.HostConfig{
		NetworkMode: "none",
		Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: "/fill", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}},
	}, nil, nil, "")
	if err != nil {
		t.Fatalf("create filler container for volume %s: %v", volume, err)
	}
	defer func() {
		_ = cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	}()
	if err := cli.CopyToContainer(ctx, created.ID, "/fill", bytes.NewReader(tarStream), container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("fill volume %s: %v", volume, err)
	}
}

// CountLabelled counts containers (all states) and images carrying label
// ("key" or "key=value").
func CountLabelled(t testing.TB, cli *Client, label string) (containers, images int) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", label))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers %s: %v", label, err)
	}
	ims, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list images %s: %v", label, err)
	}
	return len(cs), len(ims)
}
