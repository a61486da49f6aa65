package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
)

// mgrPolicy accepts the test's temp dir (on the root filesystem).
var mgrPolicy = mountcheck.Policy{AnyFSType: true, AllowRootFS: true, ProbeTimeout: 5 * time.Second}

// mgrEngine is a fake ManagerEngine: a one-project stack whose volume export
// can be made to block, and a record of the containers started.
type mgrEngine struct {
	mu        sync.Mutex
	stack     dockerapi.Stack
	volData   map[string][]byte
	imageData []byte
	running   map[string]bool
	starts    [][]string
	// exportStarted, when set, receives a value when ExportVolume begins;
	// blockExport makes ExportVolume wait until its ctx ends.
	exportStarted chan string
	blockExport   bool
}

func newMgrEngine() *mgrEngine {
	img := dockerapi.Image{ID: "sha256:" + mgrHex("img-app"), RepoTags: []string{"demo/app:1"}, Size: 4096}
	return &mgrEngine{
		stack: dockerapi.Stack{
			Project:  "demo",
			Services: []string{"app", "worker"},
			Containers: []dockerapi.Container{
				{ID: "c-app", Name: "demo_app_1", Service: "app", State: "running", Running: true, ImageID: img.ID},
				{ID: "c-worker", Name: "demo_worker_1", Service: "worker", State: "running", Running: true, ImageID: img.ID},
			},
			Images:  []dockerapi.Image{img},
			Volumes: []dockerapi.Volume{{Name: "demo_data", Driver: "local", Labels: map[string]string{"com.docker.compose.project": "demo"}, Size: 100}},
		},
		volData:   map[string][]byte{"demo_data": mgrTar("data.txt", "volume content")},
		imageData: mgrTar("manifest.json", "[]"),
		running:   map[string]bool{"c-app": true, "c-worker": true},
	}
}

func mgrHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (e *mgrEngine) Info(ctx context.Context) (dockerapi.EngineInfo, error) {
	return dockerapi.EngineInfo{Version: "20.10.24", APIVersion: "1.41", ImageStore: "graphdriver", OS: "linux", Arch: "amd64"}, ctx.Err()
}

func (e *mgrEngine) ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error) {
	if err := ctx.Err(); err != nil {
		return dockerapi.Stack{}, err
	}
	if project != e.stack.Project {
		return dockerapi.Stack{}, &dockerapi.ProjectNotFoundError{Project: project, Known: []string{e.stack.Project}}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.stack
	st.Containers = slices.Clone(st.Containers)
	for i := range st.Containers {
		st.Containers[i].Running = e.running[st.Containers[i].ID]
	}
	return st, nil
}

func (e *mgrEngine) ImagesUniqueBytes(ctx context.Context, images []dockerapi.Image) (int64, error) {
	return int64(len(e.imageData)), ctx.Err()
}

func (e *mgrEngine) SaveImages(ctx context.Context, refs []string, w io.Writer) (dockerapi.SaveResult, error) {
	if err := ctx.Err(); err != nil {
		return dockerapi.SaveResult{}, err
	}
	n, err := w.Write(e.imageData)
	if err != nil {
		return dockerapi.SaveResult{}, err
	}
	var saved []dockerapi.SavedImage
	for _, im := range e.stack.Images {
		saved = append(saved, dockerapi.SavedImage{Ref: im.SaveRef(), ConfigDigest: im.ID, RepoTags: im.RepoTags})
	}
	return dockerapi.SaveResult{Bytes: int64(n), Images: saved}, nil
}

func (e *mgrEngine) ExportVolume(ctx context.Context, st dockerapi.Stack, volume string, w io.Writer) (dockerapi.ExportResult, error) {
	if e.exportStarted != nil {
		e.exportStarted <- volume
	}
	if e.blockExport {
		<-ctx.Done()
		return dockerapi.ExportResult{}, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return dockerapi.ExportResult{}, err
	}
	n, err := w.Write(e.volData[volume])
	if err != nil {
		return dockerapi.ExportResult{}, err
	}
	return dockerapi.ExportResult{Bytes: int64(n), ContentBytes: int64(n), Via: "fake"}, nil
}

func (e *mgrEngine) StopContainers(ctx context.Context, ids []string, timeout time.Duration) (func() error, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var stopped []string
	for _, id := range ids {
		if e.running[id] {
			e.running[id] = false
			stopped = append(stopped, id)
		}
	}
	return func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, id := range stopped {
			e.running[id] = true
		}
		return nil
	}, nil
}

func (e *mgrEngine) StartContainers(ctx context.Context, ids []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.starts = append(e.starts, slices.Clone(ids))
	var errs []error
	for _, id := range ids {
		if _, ok := e.running[id]; !ok {
			errs = append(errs, fmt.Errorf("%w: %s", dockerapi.ErrContainerNotFound, id))
			continue
		}
		e.running[id] = true
	}
	return errors.Join(errs...)
}

func (e *mgrEngine) stopByHand(ids ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		e.running[id] = false
	}
}

func (e *mgrEngine) isRunning(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running[id]
}

func (e *mgrEngine) started() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.starts {
		out = append(out, s...)
	}
	return out
}

// testClock is an adjustable clock for stored times and lease expiry.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// MustMgrSettings are DefaultSettings with a fresh target directory and project "demo".
func MustMgrSettings(t *testing.T) backup.Settings {
	t.Helper()
	s := backup.DefaultSettings()
	s.TargetLocalDir = filepath.Join(t.TempDir(), "target")
	if err := os.MkdirAll(s.TargetLocalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.RagflowProjectName = "demo"
	return s
}

// MustManager opens a Manager with test defaults (short timeouts, no
// scheduler, the fake engine, a relaxed mount policy) for the fields cfg leaves zero.
func MustManager(t *testing.T, cfg backup.ManagerConfig) *backup.Manager {
	t.Helper()
	cfg.DisableScheduler = true
	return mustManager(t, cfg)
}

// MustManagerWithScheduler is MustManager with the scheduler running.
func MustManagerWithScheduler(t *testing.T, cfg backup.ManagerConfig) *backup.Manager {
	t.Helper()
	return mustManager(t, cfg)
}

func mustManager(t *testing.T, cfg backup.ManagerConfig) *backup.Manager {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Engine == nil {
		cfg.Engine = newMgrEngine()
	}
	if reflect.ValueOf(cfg.Settings).IsZero() {
		cfg.Settings = MustMgrSettings(t)
	}
	if cfg.Policy.FSTypes == nil && !cfg.Policy.AnyFSType {
		cfg.Policy = mgrPolicy
	}
	if cfg.StagingDir == "" {
		cfg.StagingDir = t.TempDir()
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 3 * time.Second
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 30 * time.Second
	}
	if cfg.CancelGrace == 0 {
		cfg.CancelGrace = time.Second
	}
	if cfg.PersistInterval == 0 {
		cfg.PersistInterval = 100 * time.Millisecond
	}
	m, err := backup.NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// mgrWait polls cond until it holds or the deadline passes.
func mgrWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// MustJobWhere polls Get until pred holds and returns the job.
func MustJobWhere(t *testing.T, m *backup.Manager, id int64, d time.Duration, what string, pred func(backup.Job) bool) backup.Job {
	t.Helper()
	var j backup.Job
	mgrWait(t, d, fmt.Sprintf("job %d: %s", id, what), func() bool {
		var err error
		j, err = m.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Get(%d): %v", id, err)
		}
		return pred(j)
	})
	return j
}

// MustJobEnded waits for a job to leave the active states.
func MustJobEnded(t *testing.T, m *backup.Manager, id int64) backup.Job {
	t.Helper()
	return MustJobWhere(t, m, id, 20*time.Second, "ended", func(j backup.Job) bool { return !j.Status.Active() })
}

// MustLockFree waits until the lease lock is released.
func MustLockFree(t *testing.T, m *backup.Manager) {
	t.Helper()
	mgrWait(t, 20*time.Second, "the lock to be released", func() bool {
		li, err := m.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return !li.Held
	})
}

func sv(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// Fake runs.

// blockingRun reports a precheck and a volumes step with some bytes, then
// waits for its ctx (or release, when release is non-nil and ignoreCtx).
type blockingRun struct {
	started   chan backup.Spec // receives the spec when the run begins (buffered)
	release   chan struct{}    // closes: the run returns
	ignoreCtx bool             // wait for release even after ctx ends
	createDir bool             // create (and on cancel remove) a partial pack dir, recorded via BeforeStep

	mu     sync.Mutex
	causes []error
	dirs   []string
}

func newBlockingRun() *blockingRun {
	return &blockingRun{started: make(chan backup.Spec, 256), release: make(chan struct{})}
}

func (b *blockingRun) Run(ctx context.Context, spec backup.Spec, p backup.ProgressFunc) (*backup.Result, error) {
	if spec.Hooks.BeforeStep != nil {
		if err := spec.Hooks.BeforeStep(ctx, backup.StepPrecheck); err != nil {
			return nil, err
		}
	}
	p(backup.Progress{Step: backup.StepPrecheck, Message: "checking", Time: time.Now()})
	var dir string
	if b.createDir {
		dir = filepath.Join(spec.Target, backup.PartialPrefix+fmt.Sprintf("%d", time.Now().UnixNano()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		b.mu.Lock()
		b.dirs = append(b.dirs, dir)
		b.mu.Unlock()
	}
	if spec.Hooks.BeforeStep != nil {
		if err := spec.Hooks.BeforeStep(ctx, backup.StepVolumes); err != nil {
			return nil, err
		}
	}
	p(backup.Progress{Step: backup.StepVolumes, Item: "demo_data", Percent: 10, BytesDone: 10, BytesTotal: 100, Message: "exporting", Time: time.Now()})
	b.started <- spec
	if b.ignoreCtx {
		<-b.release
	} else {
		select {
		case <-ctx.Done():
		case <-b.release:
		}
	}
	b.mu.Lock()
	b.causes = append(b.causes, context.Cause(ctx))
	b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, &backup.StepError{Step: backup.StepVolumes, Err: context.Cause(ctx)}
	}
	return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_fake"), Name: "migration_pack_fake", PackageHash: mgrHex("fake")}, nil
}

func (b *blockingRun) lastCause() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.causes) == 0 {
		return nil
	}
	return b.causes[len(b.causes)-1]
}

// waitStarted waits for the run to begin.
func (b *blockingRun) waitStarted(t *testing.T) backup.Spec {
	t.Helper()
	select {
	case s := <-b.started:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("the fake backup did not start")
	}
	return backup.Spec{}
}

// quickRun completes at once.
func quickRun(ctx context.Context, spec backup.Spec, p backup.ProgressFunc) (*backup.Result, error) {
	p(backup.Progress{Step: backup.StepPrecheck, Message: "checking", Time: time.Now()})
	p(backup.Progress{Step: backup.StepFinalize, Percent: 100, Message: "done", Time: time.Now()})
	return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_quick"), Name: "migration_pack_quick", PackageHash: mgrHex("quick"), Bytes: 1}, nil
}

// MustStateConn opens the manager's state DB directly (read-only checks).
func MustStateConn(t *testing.T, stateDir string) *sqlite.Conn {
	t.Helper()
	conn, err := sqlite.OpenConn(filepath.Join(stateDir, backup.StateDBFile), sqlite.OpenReadWrite|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetBusyTimeout(5 * time.Second)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// mustQueryInt returns the first column of the first row.
func mustQueryInt(t *testing.T, conn *sqlite.Conn, q string, args ...any) int64 {
	t.Helper()
	var v int64
	if err := sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: args, ResultFunc: func(stmt *sqlite.Stmt) error {
		v = stmt.ColumnInt64(0)
		return nil
	}}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func mustExec(t *testing.T, conn *sqlite.Conn, q string, args ...any) {
	t.Helper()
	if err := sqlitex.Execute(conn, q, &sqlitex.ExecOptions{Args: args}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// MustMgrSQLite creates a small WAL SQLite database.
func MustMgrSQLite(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.db")
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users(name) VALUES ('ada');`, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// MustTestPack writes a complete pack (valid manifest, one volume file) of
// project created at created into target and returns its path.
func MustTestPack(t *testing.T, target, project string, created time.Time) string {
	t.Helper()
	ts := strings.Replace(created.UTC().Format(backup.PackTimeLayout), ".", "_", 1)
	dir := filepath.Join(target, backup.PackPrefix+ts)
	if err := os.MkdirAll(filepath.Join(dir, backup.VolumesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	data := mgrTar("data.txt", "volume "+ts)
	if err := os.WriteFile(filepath.Join(dir, backup.VolumesDir, "v.tar"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m := &backup.Manifest{
		FormatVersion: backup.FormatVersion, Tool: backup.ToolInfo{Name: "dockpack", Version: "test"}, CreatedAt: created.UTC(),
		Project: project, Contents: []backup.Component{backup.ComponentVolumes},
		Files:   []backup.FileEntry{{Path: "volumes/v.tar", Kind: backup.KindVolume, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}},
		Volumes: []backup.VolumeEntry{{Name: "v", Driver: "local", Options: map[string]string{}, Labels: map[string]string{}, File: "volumes/v.tar"}},
		Images:  []backup.ImageEntry{}, Skipped: []backup.SkipEntry{},
	}
	b, err := backup.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, backup.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	msum := sha256.Sum256(b)
	sums := backup.FormatSums([]backup.Sum{{SHA256: hex.EncodeToString(sum[:]), Path: "volumes/v.tar"}, {SHA256: hex.EncodeToString(msum[:]), Path: backup.ManifestFile}})
	if err := os.WriteFile(filepath.Join(dir, backup.SumsFile), sums, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mgrTar is a small volume-export-like tar: "./" and files (name, content pairs).
func mgrTar(kv ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	for i := 0; i+1 < len(kv); i += 2 {
		tw.WriteHeader(&tar.Header{Name: kv[i], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(kv[i+1]))})
		tw.Write([]byte(kv[i+1]))
	}
	tw.Close()
	return buf.Bytes()
}

// MustPartial creates a partial pack directory named for created.
func MustPartial(t *testing.T, target string, created time.Time) string {
	t.Helper()
	ts := strings.Replace(created.UTC().Format(backup.PackTimeLayout), ".", "_", 1)
	dir := filepath.Join(target, backup.PartialPrefix+ts)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mgrExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
