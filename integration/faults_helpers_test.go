//go:build integration

package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
	"github.com/dockpack/dockpack/internal/owner"
)

// The fault harness (faults_test.go) kills, unmounts and fills the disk
// under real dockpack processes at step boundaries and random offsets, and
// checks every time that the next run recovers unattended and that nothing
// is left behind. This file holds its fixture and its invariants.

// fxStack is the harness's compose project: the app service (running, its
// volume <p>_data) stopped during the volume step, and the unattached volume
// <p>_cache, exported first (sorted) through a helper container.
type fxStack struct {
	*dmStack
	cache    string
	target   string // tmpfs
	staging  string // on the root filesystem
	verified map[string]bool
	pids     []int // the dockpack processes run against it
}

func fxNewStack(t *testing.T) *fxStack {
	t.Helper()
	s := &fxStack{dmStack: dmNewStack(t, 256<<10), verified: map[string]bool{}}
	s.cache = s.project + "_cache"
	dockertest.MustVolume(t, s.cli, s.cache, dockertest.ComposeVolumeLabels(s.project, "cache"))
	blob := make([]byte, 512<<10)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	dockertest.MustWriteVolume(t, s.cli, s.cache, s.image, dockertest.MustTar(t, dockertest.TarEntry{Name: "cache.bin", Body: blob}))
	s.target = MustTmpfs(t, 256<<20)
	s.staging = t.TempDir()
	return s
}

// cliArgs are the arguments of a CLI backup of the stack.
func (s *fxStack) cliArgs() []string {
	return []string{"backup", "--project", s.project, "--target", s.target, "--sqlite", s.db, "--staging-dir", s.staging,
		"--fstype", "tmpfs", "--stop", "app", "--json", "--log-level", "debug"}
}

// fxProc is a running `dockpack backup`.
type fxProc struct {
	cmd  *exec.Cmd
	out  *strings.Builder
	mu   sync.Mutex
	done chan struct{}
	err  error
}

func (s *fxStack) startCLI(t *testing.T, env ...string) *fxProc {
	t.Helper()
	cmd := exec.Command(dmBinary(t), s.cliArgs()...)
	cmd.Env = append(os.Environ(), env...)
	p := &fxProc{cmd: cmd, out: &strings.Builder{}, done: make(chan struct{})}
	w := &lockedWriter{mu: &p.mu, w: p.out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.pids = append(s.pids, cmd.Process.Pid)
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *fxProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits for the process and returns its exit code.
func (p *fxProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("dockpack backup did not end within %s:\n%s", d, p.output())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("dockpack backup: %v", p.err)
	}
	return 0
}

// kill9 kills the process and waits until it is reaped.
func (p *fxProc) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// errorCode is the error_code of the run's "failed" JSON line ("" if none).
func (p *fxProc) errorCode() string {
	for _, line := range strings.Split(p.output(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == "failed" {
			s, _ := m["error_code"].(string)
			return s
		}
	}
	return ""
}

// waitFile polls for path (a seam marker) while the process lives.
func waitFile(t *testing.T, path string, p *fxProc, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
		if p != nil {
			select {
			case <-p.done:
				return false
			default:
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// debris is what a run left in the world.
type debris struct {
	partials, helpers, staged []string
	stopped                   bool
}

func (d debris) empty() bool {
	return len(d.partials)+len(d.helpers)+len(d.staged) == 0 && !d.stopped
}

func (d debris) String() string {
	return fmt.Sprintf("partials %v, helpers %v, staged %v, app stopped %v", d.partials, d.helpers, d.staged, d.stopped)
}

// debrisNow looks for everything a backup of the stack can leave behind.
func (s *fxStack) debrisNow(t *testing.T) debris {
	t.Helper()
	var d debris
	ents, _ := os.ReadDir(s.target)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), pack.PartialPrefix) || strings.HasPrefix(e.Name(), ".dockpack-tmp") {
			d.partials = append(d.partials, e.Name())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, vol := range []string{s.volume, s.cache} {
		cs, err := s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", dockerapi.LabelHelper+"=1"), filters.Arg("label", dockerapi.LabelHelperVolume+"="+vol))})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			d.helpers = append(d.helpers, c.Names[0])
		}
	}
	for _, pid := range s.pids { // helper images of the processes this harness ran
		ims, err := s.cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", dockerapi.LabelHelper+"=1"), filters.Arg("label", owner.LabelPID+"="+strconv.Itoa(pid)))})
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range ims {
			d.helpers = append(d.helpers, im.ID)
		}
	}
	staged, _ := filepath.Glob(filepath.Join(s.staging, "dockpack-sqlitesnap-*"))
	d.staged = staged
	d.stopped = !s.runningByList(t)
	return d
}

// verifyAll fully verifies every complete pack not verified yet: a
// directory named migration_pack_* is only ever a complete pack.
func (s *fxStack) verifyAll(t *testing.T) (checked int) {
	t.Helper()
	packs, _ := TargetDirs(t, s.target)
	sort.Strings(packs)
	for _, p := range packs {
		if s.verified[p] {
			continue
		}
		if _, err := pack.Verify(context.Background(), filepath.Join(s.target, p), pack.VerifyOptions{StagingDir: t.TempDir()}); err != nil {
			t.Errorf("FAKE-COMPLETE PACK %s: %v", p, err)
		}
		s.verified[p] = true
		checked++
	}
	return checked
}

// packBytes is the size of the files a pack of the stack lists (the bytes
// its backup streams before manifest.json): read from the newest complete
// pack in the target, made by a plain backup when there is none yet.
func (s *fxStack) packBytes(t *testing.T) int64 {
	t.Helper()
	packs, _ := TargetDirs(t, s.target)
	sort.Strings(packs)
	for i := len(packs) - 1; i >= 0; i-- {
		if m, _, err := pack.ReadManifest(context.Background(), filepath.Join(s.target, packs[i])); err == nil {
			return m.PackSize()
		}
	}
	if code := s.startCLI(t).wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("a plain backup of the stack exited %d", code)
	}
	return s.packBytes(t)
}

// packFile is a pack file in the order a backup writes it, with the
// offset, in the bytes the backup streams, at which it ends.
type packFile struct {
	kind string // the manifest's file kind: sqlite, volume, images, compose
	end  int64
}

// packFiles are the files of a pack of the stack in the order they were
// written (their modification times, not the manifest's order).
func (s *fxStack) packFiles(t *testing.T) []packFile {
	t.Helper()
	s.packBytes(t) // there is a complete pack
	packs, _ := TargetDirs(t, s.target)
	sort.Strings(packs)
	dir := filepath.Join(s.target, packs[len(packs)-1])
	m, _, err := pack.ReadManifest(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	files := slices.Clone(m.Files)
	mtime := map[string]time.Time{}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		mtime[f.Path] = fi.ModTime()
	}
	sort.SliceStable(files, func(i, j int) bool { return mtime[files[i].Path].Before(mtime[files[j].Path]) })
	var out []packFile
	var n int64
	for _, f := range files {
		n += f.Size
		out = append(out, packFile{kind: string(f.Kind), end: n})
	}
	return out
}

// fileBoundaries are the offsets at which one pack file ends and the next
// begins (the last: before manifest.json).
func (s *fxStack) fileBoundaries(t *testing.T) []int64 {
	var out []int64
	for _, f := range s.packFiles(t) {
		out = append(out, f.end)
	}
	return out
}

// stepAt names the step whose file holds byte offset n of the stream.
func (s *fxStack) stepAt(t *testing.T, n int64) string {
	steps := map[string]string{"sqlite": "sqlite", "volume": "volumes", "images": "images", "compose": "compose"}
	for _, f := range s.packFiles(t) {
		if n < f.end {
			return steps[f.kind]
		}
	}
	return "manifest"
}
