//go:build integration

package integration_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// The process-level tests of the daemon run `dockpack serve` as real
// processes (built once per test run) against the real engine, a tmpfs
// target and a compose-labelled stack. They reach precise moments through
// the test seams (cmd/dockpack/testseams), compiled in by -tags dockpacktest:
//
//	DOCKPACK_TEST_HOLD_STEP + DOCKPACK_TEST_HOLD_DIR  hold a job in a step, marker file held-<step>
//	DOCKPACK_TEST_THROTTLE_BPS                         slow pack writes down

const dmToken = "dm-test-token-0123456789abcdef0123456789"

var dmBuild struct {
	once sync.Once
	path string
	err  error
}

// dmBinary builds cmd/dockpack once per test process into a fixed
// directory under the temp dir (binaries of finished runs are removed).
func dmBinary(t testing.TB) string {
	t.Helper()
	dmBuild.once.Do(func() {
		dir := filepath.Join(os.TempDir(), "dockpack-test-dm-bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			dmBuild.err = err
			return
		}
		// Binaries of earlier runs whose process is gone are removed.
		if old, _ := filepath.Glob(filepath.Join(dir, "dockpack-*")); len(old) > 0 {
			for _, o := range old {
				pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(o), "dockpack-"))
				if _, serr := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil || serr != nil {
					os.Remove(o)
				}
			}
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		out := filepath.Join(dir, fmt.Sprintf("dockpack-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-tags", "dockpacktest", "-o", out, "./cmd/dockpack") // with the test seams
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			dmBuild.err = fmt.Errorf("go build ./cmd/dockpack: %v\n%s", err, msg)
			return
		}
		dmBuild.path = out
	})
	if dmBuild.err != nil {
		t.Fatal(dmBuild.err)
	}
	return dmBuild.path
}

// dmStack is a compose project: one running service "app" (image
// <p>-app) with the named volume <p>_data holding volBytes of random data,
// plus a WAL SQLite database on the host (auth_db_path).
type dmStack struct {
	cli     *dockertest.Client
	project string
	image   string
	app     string // container ID
	volume  string
	db      string
}

func dmNewStack(t *testing.T, volBytes int) *dmStack {
	t.Helper()
	cli := dockertest.MustClient(t)
	p := strings.ToLower(dockertest.Unique("dm"))
	s := &dmStack{cli: cli, project: p, image: "dockpack-test/" + p + "-app:1", volume: p + "_data"}
	dockertest.MustTestAppImage(t, cli, s.image)
	dockertest.MustVolume(t, cli, s.volume, dockertest.ComposeVolumeLabels(p, "data"))
	blob := make([]byte, volBytes)
	_, _ = rand.Read(blob)
	dockertest.MustWriteVolume(t, cli, s.volume, s.image, dockertest.MustTar(t,
		dockertest.TarEntry{Name: "blob.bin", Body: blob},
		dockertest.TarEntry{Name: "conf/app.ini", Body: []byte("[app]\nname=" + p + "\n")}))
	s.app = dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "_app_1", Image: s.image, Labels: dockertest.ComposeLabels(p, "app", 1), Start: true,
		Mounts: []dockertest.Mount{{Type: "volume", Source: s.volume, Target: "/data"}},
	})
	s.db = filepath.Join(t.TempDir(), "auth.db")
	conn, err := sqlite.OpenConn(s.db, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);
		INSERT INTO users(name) VALUES ('ada'), ('grace'), ('linus');`, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// running reports whether the app container runs.
func (s *dmStack) running(t *testing.T) bool { return dockertest.Running(t, s.cli, s.app) }

// runningByList reports whether the app container runs, from the
// container list. Use it while a volume export is held: the engine keeps
// the container locked while it streams the archive, so an inspect of it
// blocks until the export ends.
func (s *dmStack) runningByList(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	users, err := MustEngine(t).VolumeUsers(ctx, s.volume)
	if err != nil {
		t.Fatalf("list the users of volume %s: %v", s.volume, err)
	}
	for _, u := range users {
		if u.ContainerID == s.app {
			return u.Running
		}
	}
	t.Fatalf("container %s is not among the users of volume %s", s.app, s.volume)
	return false
}

// dmOpts describes one `dockpack serve` process.
type dmOpts struct {
	stateDir string
	target   string
	stack    *dmStack
	args     []string // more flags
	env      []string // more environment (test seams, DOCKER_HOST)
	noSched  bool     // --disable-scheduler (most tests)
}

// dmDaemon is a running `dockpack serve` process.
type dmDaemon struct {
	t      *testing.T
	opts   dmOpts
	cmd    *exec.Cmd
	url    string
	logf   string
	exited chan struct{}
	exitMu sync.Mutex
	exit   error
	client *http.Client
}

func dmFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// dmStart starts `dockpack serve` and waits until /healthz answers. The
// process is killed in t.Cleanup if still running; its log is shown when
// the test failed.
func dmStart(t *testing.T, o dmOpts) *dmDaemon {
	t.Helper()
	bin := dmBinary(t)
	port := dmFreePort(t)
	args := []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--state-dir", o.stateDir,
		"--target", o.target, "--fstype", "tmpfs", "--log-level", "debug"}
	if o.stack != nil {
		args = append(args, "--project", o.stack.project, "--sqlite", o.stack.db)
	}
	if o.noSched {
		args = append(args, "--disable-scheduler")
	}
	args = append(args, o.args...)
	logf, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DOCKPACK_TOKEN="+dmToken, "DOCKPACK_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, o.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &dmDaemon{t: t, opts: o, cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), logf: logf.Name(), exited: make(chan struct{}),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	go func() {
		err := cmd.Wait()
		d.exitMu.Lock()
		d.exit = err
		d.exitMu.Unlock()
		close(d.exited)
		logf.Close()
	}()
	t.Cleanup(func() {
		d.kill(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(d.logf)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("log of dockpack serve (pid %d), last lines:\n%s", cmd.Process.Pid, strings.Join(lines, "\n"))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-d.exited:
			b, _ := os.ReadFile(d.logf)
			t.Fatalf("dockpack serve exited during start-up (%v):\n%s", d.exitErr(), b)
		default:
		}
		resp, err := d.client.Get(d.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockpack serve did not answer /healthz within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *dmDaemon) pid() int { return d.cmd.Process.Pid }

func (d *dmDaemon) exitErr() error {
	d.exitMu.Lock()
	defer d.exitMu.Unlock()
	return d.exit
}

// kill signals the process; for SIGKILL it also waits until it is reaped
// (a zombie still has /proc/<pid>, which would look alive to a takeover).
func (d *dmDaemon) kill(sig syscall.Signal) {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		<-d.exited
	}
}

// waitExit waits for the process to end and returns its exit code.
func (d *dmDaemon) waitExit(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		d.t.Fatalf("dockpack serve (pid %d) did not exit within %v", d.pid(), timeout)
	}
	if d.exitErr() == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(d.exitErr(), &ee) {
		return ee.ExitCode()
	}
	d.t.Fatalf("wait: %v", d.exitErr())
	return -1
}

// do sends a request with the daemon's token (unless token is given) and
// returns the status and body.
func (d *dmDaemon) do(method, path, body string, token ...string) (int, []byte) {
	d.t.Helper()
	code, b, err := d.try(method, path, body, token...)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, b
}

func (d *dmDaemon) try(method, path, body string, token ...string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	tok := dmToken
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// start asks for a backup of components (POST /v1/backups) and wants 202.
func (d *dmDaemon) start(components ...string) jobs.Job {
	d.t.Helper()
	code, b := d.do("POST", "/v1/backups", dmComponents(components))
	if code != http.StatusAccepted {
		d.t.Fatalf("POST /v1/backups: %d %s", code, b)
	}
	var j jobs.Job
	if err := json.Unmarshal(b, &j); err != nil {
		d.t.Fatal(err)
	}
	return j
}

func dmComponents(components []string) string {
	b, _ := json.Marshal(map[string][]string{"components": components})
	return string(b)
}

func (d *dmDaemon) job(id int64) jobs.Job {
	d.t.Helper()
	code, b := d.do("GET", fmt.Sprintf("/v1/jobs/%d", id), "")
	if code != 200 {
		d.t.Fatalf("GET job %d: %d %s", id, code, b)
	}
	var j jobs.Job
	if err := json.Unmarshal(b, &j); err != nil {
		d.t.Fatal(err)
	}
	return j
}

// waitJob polls the job until done(job) or the deadline.
func (d *dmDaemon) waitJob(id int64, timeout time.Duration, what string, done func(jobs.Job) bool) jobs.Job {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := d.job(id)
		if done(j) {
			return j
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("job %d: not %s within %v; last seen %s", id, what, timeout, dmJobString(j))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (d *dmDaemon) waitEnded(id int64, timeout time.Duration) jobs.Job {
	d.t.Helper()
	return d.waitJob(id, timeout, "ended", func(j jobs.Job) bool { return !j.Status.Active() })
}

func dmJobString(j jobs.Job) string {
	s := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	return fmt.Sprintf("{id %d status %s progress %d step %s code %s detail %s}", j.ID, j.Status, j.Progress, s(j.Step), s(j.ErrorCode), s(j.Detail))
}

// settings reads GET /v1/settings.
func (d *dmDaemon) settings() map[string]any {
	d.t.Helper()
	code, b := d.do("GET", "/v1/settings", "")
	if code != 200 {
		d.t.Fatalf("GET settings: %d %s", code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		d.t.Fatal(err)
	}
	return m
}

// lock reads GET /v1/lock.
func (d *dmDaemon) lock() jobs.LockInfo {
	d.t.Helper()
	code, b := d.do("GET", "/v1/lock", "")
	if code != 200 {
		d.t.Fatalf("GET lock: %d %s", code, b)
	}
	var li jobs.LockInfo
	if err := json.Unmarshal(b, &li); err != nil {
		d.t.Fatal(err)
	}
	return li
}

// logLines returns the daemon's JSON log entries so far.
func (d *dmDaemon) logLines() []map[string]any {
	f, err := os.Open(d.logf)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitHeld waits until job id reached the test seam's hold in step (the
// marker file held-<step> in dir), failing at once if the job ended.
func (d *dmDaemon) waitHeld(dir string, step progress.Step, id int64) {
	d.t.Helper()
	marker := filepath.Join(dir, "held-"+string(step))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			return
		}
		if j := d.job(id); !j.Status.Active() {
			d.t.Fatalf("job %d ended before reaching the hold in %s: %s", id, step, dmJobString(j))
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("job %d did not reach the hold in %s within 60s: %s", id, step, dmJobString(d.job(id)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dmWait polls cond until true or the deadline.
func dmWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dmAssertClean: no partial pack in target, and the app container runs.
func dmAssertClean(t *testing.T, target string, s *dmStack) {
	t.Helper()
	if _, partials := TargetDirs(t, target); len(partials) > 0 {
		t.Errorf("partial pack directories left in %s: %v", target, partials)
	}
	if s != nil && !s.running(t) {
		t.Errorf("container %s is not running", s.app)
	}
}

// dmAssertPack checks a completed job's pack: its directory exists and
// holds a manifest whose hash is the job's package_hash.
func dmAssertPack(t *testing.T, j jobs.Job) {
	t.Helper()
	if j.Status != jobs.StatusCompleted || j.OutputDir == nil || j.PackageHash == nil {
		t.Fatalf("job not completed with a pack: %s", dmJobString(j))
	}
	m, hash, err := pack.ReadManifest(context.Background(), *j.OutputDir)
	if err != nil {
		t.Fatalf("pack of job %d: %v", j.ID, err)
	}
	if hash != *j.PackageHash {
		t.Errorf("pack %s: manifest hash %s, job says %s", *j.OutputDir, hash, *j.PackageHash)
	}
	_ = m
}

// dmJSON decodes a JSON object.
func dmJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

func dmItoa(n int64) string { return strconv.FormatInt(n, 10) }
