package backup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// drEngine is a DoctorEngine (and ManagerEngine) fake.
type drEngine struct {
	info      dockerapi.EngineInfo
	infoErr   error
	stack     dockerapi.Stack
	stackErr  error
	imageSize int64
	block     bool // Info blocks until ctx ends
}

func drNewEngine() *drEngine {
	img := dockerapi.Image{ID: "sha256:" + strings.Repeat("a", 64), RepoTags: []string{"demo/app:1"}, Size: 4096, Containers: []string{"demo_app_1"}}
	return &drEngine{
		info: dockerapi.EngineInfo{Version: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12", ClientAPIVersion: "1.41",
			StorageDriver: "overlayfs", ImageStore: dockerapi.ImageStoreContainerd, DataRoot: "/var/lib/docker", OS: "linux", Arch: "amd64", Local: true},
		stack: dockerapi.Stack{
			Project: "demo", Services: []string{"app"},
			Containers: []dockerapi.Container{{ID: "c1", Name: "demo_app_1", Service: "app", State: "running", Running: true, ImageID: img.ID, ImageRef: "demo/app:1"}},
			Images:     []dockerapi.Image{img},
			Volumes:    []dockerapi.Volume{{Name: "demo_data", Driver: "local", Size: 1000, Labels: map[string]string{dockerapi.LabelProject: "demo"}}},
		},
		imageSize: 4096,
	}
}

func (e *drEngine) Info(ctx context.Context) (dockerapi.EngineInfo, error) {
	if e.block {
		<-ctx.Done()
		return dockerapi.EngineInfo{}, ctx.Err()
	}
	return e.info, e.infoErr
}

func (e *drEngine) ResolveStack(_ context.Context, project string) (dockerapi.Stack, error) {
	if e.stackErr != nil {
		return dockerapi.Stack{}, e.stackErr
	}
	if project != e.stack.Project {
		return dockerapi.Stack{}, &dockerapi.ProjectNotFoundError{Project: project, Known: []string{e.stack.Project}}
	}
	return e.stack, nil
}

func (e *drEngine) ImagesUniqueBytes(context.Context, []dockerapi.Image) (int64, error) {
	return e.imageSize, nil
}

func (e *drEngine) SaveImages(context.Context, []string, io.Writer) (dockerapi.SaveResult, error) {
	return dockerapi.SaveResult{}, errors.New("drEngine: not used")
}

func (e *drEngine) ExportVolume(context.Context, dockerapi.Stack, string, io.Writer) (dockerapi.ExportResult, error) {
	return dockerapi.ExportResult{}, errors.New("drEngine: not used")
}

func (e *drEngine) StopContainers(context.Context, []string, time.Duration) (func() error, error) {
	return nil, errors.New("drEngine: not used")
}

func (e *drEngine) StartContainers(context.Context, []string) error { return nil }

// drState is a fake StateSource.
type drState struct {
	lock    backup.LockInfo
	jobs    []backup.Job
	lockErr error
}

func (s *drState) Lock(context.Context) (backup.LockInfo, error) { return s.lock, s.lockErr }
func (s *drState) List(_ context.Context, o backup.ListOptions) ([]backup.Job, error) {
	return s.jobs[:min(len(s.jobs), o.Limit)], nil
}

func drStr(s string) *string { return &s }
func drInt(n int64) *int64   { return &n }

// MustDRDB creates a WAL SQLite database with a table and a row.
func MustDRDB(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "app.db")
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE t(x); INSERT INTO t VALUES (1);`, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// MustDRPack writes a minimal complete pack (a valid manifest) created at when.
func MustDRPack(t testing.TB, target string, when time.Time) string {
	t.Helper()
	name := backup.PackPrefix + when.UTC().Format("20060102_150405") + "_000"
	dir := filepath.Join(target, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := backup.MarshalManifest(&backup.Manifest{FormatVersion: backup.FormatVersion, CreatedAt: when.UTC(), Project: "demo", Contents: []backup.Component{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, backup.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var drNow = time.Now()

// drHealthy is a setup where every check is ok.
func drHealthy(t *testing.T) (backup.DoctorOptions, *drEngine, *drState) {
	t.Helper()
	root := t.TempDir()
	target := filepath.Join(root, "packs")
	MustDRPack(t, target, drNow.Add(-2*time.Hour))
	staging := filepath.Join(root, "staging")
	os.Mkdir(staging, 0o755)
	dbdir := filepath.Join(root, "data")
	os.Mkdir(dbdir, 0o755)
	eng := drNewEngine()
	st := &drState{jobs: []backup.Job{{ID: 3, Kind: backup.KindFull, Status: backup.JobCompleted, Progress: 100, CreatedAtMs: drNow.Add(-2 * time.Hour).UnixMilli(),
		StartedAtMs: drInt(drNow.Add(-2 * time.Hour).UnixMilli()), FinishedAtMs: drInt(drNow.Add(-2*time.Hour + time.Minute).UnixMilli()), PackName: drStr("migration_pack_x")}}}
	return backup.DoctorOptions{
		Engine: eng, Project: "demo", Target: target, StagingDir: staging, SQLitePath: MustDRDB(t, dbdir),
		Policy: mountcheck.Policy{AnyFSType: true, AllowRootFS: true}, State: st, StateDesc: "fake",
		RootWarnFree: 1, RootFailFree: 1, Now: func() time.Time { return drNow },
	}, eng, st
}

func MustDoctor(t *testing.T, o backup.DoctorOptions) *backup.DoctorReport {
	t.Helper()
	rep, err := backup.Doctor(context.Background(), o)
	if err != nil {
		t.Fatalf("Doctor: %v", err)
	}
	if len(rep.Checks) != len(backup.DoctorChecks()) {
		t.Fatalf("%d checks, want %d", len(rep.Checks), len(backup.DoctorChecks()))
	}
	return rep
}

func drCheck(t *testing.T, rep *backup.DoctorReport, name string) backup.DoctorCheck {
	t.Helper()
	c, ok := rep.Check(name)
	if !ok {
		t.Fatalf("no check %q", name)
	}
	return c
}

func drDump(rep *backup.DoctorReport) string {
	var b strings.Builder
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "  %-9s %-4s %-20s %s | %s\n", c.Name, c.Verdict, c.Code, c.Summary, c.Detail)
	}
	return b.String()
}

func TestDoctorHealthyAllOK(t *testing.T) {
	o, _, _ := drHealthy(t)
	rep := MustDoctor(t, o)
	if rep.Verdict != backup.VerdictOK {
		t.Fatalf("verdict %s, want ok:\n%s", rep.Verdict, drDump(rep))
	}
	for _, c := range rep.Checks {
		if c.Verdict != backup.VerdictOK || c.Code != "ok" {
			t.Errorf("check %s: %s %s (%s)", c.Name, c.Verdict, c.Code, c.Summary)
		}
		if c.Title == "" || c.Summary == "" {
			t.Errorf("check %s has no title or summary", c.Name)
		}
	}
	if rep.EstimateBytes <= 4096+1000 {
		t.Errorf("estimate %d does not include db + volumes + images", rep.EstimateBytes)
	}
}

func TestDoctorFindings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState)
		check   string
		verdict backup.Verdict
		code    string
		// also: further checks and their verdicts
		also map[string]backup.Verdict
	}{
		{"engine unreachable", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.infoErr = fmt.Errorf("ping: %w at unix:///nope.sock", dockerapi.ErrEngineUnreachable)
		}, backup.CheckEngine, backup.VerdictFail, "engine_unreachable",
			map[string]backup.Verdict{backup.CheckStack: backup.VerdictSkip, backup.CheckDataRoot: backup.VerdictSkip}},
		{"engine hangs", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.block, o.CheckTimeout = true, 50*time.Millisecond
		}, backup.CheckEngine, backup.VerdictFail, "timeout", nil},
		{"unknown project", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.Project = "ragflow_compose"
		}, backup.CheckStack, backup.VerdictFail, "project_not_found", nil},
		{"anonymous volume", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.stack.Skipped = append(e.stack.Skipped, dockerapi.Skipped{Kind: "anonymous", Source: strings.Repeat("f", 64), Destination: "/cache", Container: "demo_app_1"})
		}, backup.CheckStack, backup.VerdictWarn, "anonymous_volumes", nil},
		{"bind mount", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.stack.Skipped = append(e.stack.Skipped, dockerapi.Skipped{Kind: "bind", Source: "/srv/conf", Destination: "/conf", Container: "demo_app_1"})
		}, backup.CheckStack, backup.VerdictWarn, "bind_mounts", nil},
		{"bind mount of the database dir is fine", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.stack.Skipped = append(e.stack.Skipped, dockerapi.Skipped{Kind: "bind", Source: filepath.Dir(o.SQLitePath), Destination: "/data", Container: "demo_app_1"})
		}, backup.CheckStack, backup.VerdictOK, "ok", nil},
		{"untagged image", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.stack.Images[0].RepoTags = nil
		}, backup.CheckStack, backup.VerdictWarn, "untagged_images", nil},
		{"stopped container", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.stack.Containers[0].Running, e.stack.Containers[0].State = false, "exited"
		}, backup.CheckStack, backup.VerdictWarn, "stopped_containers", nil},
		{"nothing to back up", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.SQLitePath = ""
			e.stack.Volumes, e.stack.Images = nil, nil
		}, backup.CheckStack, backup.VerdictFail, "nothing_to_back_up", nil},
		{"target on the root fs", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.Policy = mountcheck.Policy{AnyFSType: true}
		}, backup.CheckTarget, backup.VerdictFail, "target_not_mounted", nil},
		{"target of the wrong fstype", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.Policy = mountcheck.Policy{FSTypes: []string{"cifs"}, AllowRootFS: true}
		}, backup.CheckTarget, backup.VerdictFail, "target_wrong_fstype", nil},
		{"target too small for the estimate", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.imageSize = 1 << 60
		}, backup.CheckTarget, backup.VerdictFail, "insufficient_space", nil},
		{"graph-driver data root too small", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.info.ImageStore, e.info.DataRoot, e.imageSize = dockerapi.ImageStoreGraphDriver, t.TempDir(), 1<<60
		}, backup.CheckDataRoot, backup.VerdictFail, "insufficient_space", nil},
		{"graph-driver data root not visible (in a container)", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.info.ImageStore, e.info.DataRoot = dockerapi.ImageStoreGraphDriver, "/nonexistent/docker"
		}, backup.CheckDataRoot, backup.VerdictWarn, "data_root_not_visible", nil},
		{"remote graph-driver engine", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			e.info.ImageStore, e.info.Local = dockerapi.ImageStoreGraphDriver, false
		}, backup.CheckDataRoot, backup.VerdictWarn, "data_root_remote", nil},
		{"staging dir missing", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.StagingDir = filepath.Join(o.StagingDir, "nope")
		}, backup.CheckStaging, backup.VerdictFail, "staging_unusable", nil},
		{"database missing", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.SQLitePath += ".gone"
		}, backup.CheckSQLite, backup.VerdictFail, "sqlite_not_found", nil},
		{"not a database", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			p := filepath.Join(t.TempDir(), "x.db")
			os.WriteFile(p, []byte(strings.Repeat("not sqlite ", 20)), 0o644)
			o.SQLitePath = p
		}, backup.CheckSQLite, backup.VerdictFail, "sqlite_corrupt", nil},
		{"root fs low", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.RootWarnFree = 1 << 62
		}, backup.CheckRootFS, backup.VerdictWarn, "root_fs_low", nil},
		{"root fs full", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.RootWarnFree, o.RootFailFree = 1<<62, 1<<62
		}, backup.CheckRootFS, backup.VerdictFail, "root_fs_full", nil},
		{"lock held", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			s.lock = backup.LockInfo{Held: true, JobID: 9, Host: "h", PID: 42, OwnerToken: "abcd1234",
				AcquiredAt: drNow.Add(-time.Minute), RenewedAt: drNow.Add(-5 * time.Second), ExpiresAt: drNow.Add(25 * time.Second)}
		}, backup.CheckLock, backup.VerdictWarn, "lock_held", nil},
		{"lock stale", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			s.lock = backup.LockInfo{Stale: true, StaleReason: "expired", JobID: 9, Host: "h", PID: 42,
				AcquiredAt: drNow.Add(-time.Hour), RenewedAt: drNow.Add(-time.Hour), ExpiresAt: drNow.Add(-59 * time.Minute)}
		}, backup.CheckLock, backup.VerdictWarn, "lock_stale", nil},
		{"state unreadable", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			s.lockErr = errors.New("state db: database disk image is malformed")
		}, backup.CheckLock, backup.VerdictFail, "state_unreadable", nil},
		{"no state source", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.State = nil
		}, backup.CheckLock, backup.VerdictSkip, "skipped", map[string]backup.Verdict{backup.CheckJobs: backup.VerdictSkip}},
		{"last job failed", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			s.jobs = append([]backup.Job{{ID: 4, Kind: backup.KindFull, Status: backup.JobFailed, CreatedAtMs: drNow.UnixMilli(),
				ErrorCode: drStr("target_not_mounted"), Detail: drStr("not mounted: /mnt/replica is on the root filesystem")}}, s.jobs...)
		}, backup.CheckJobs, backup.VerdictWarn, "last_job_failed", nil},
		{"no jobs yet", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			s.jobs = nil
		}, backup.CheckJobs, backup.VerdictOK, "ok", nil},
		{"no pack yet", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			o.Target = t.TempDir()
		}, backup.CheckPacks, backup.VerdictWarn, "no_pack", nil},
		{"stale partial dir", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			os.Mkdir(filepath.Join(o.Target, backup.PartialPrefix+drNow.Add(-3*time.Hour).UTC().Format("20060102_150405")+"_000"), 0o755)
		}, backup.CheckPacks, backup.VerdictWarn, "stale_partial", nil},
		{"young partial dir is a backup in progress", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			os.Mkdir(filepath.Join(o.Target, backup.PartialPrefix+drNow.Add(-time.Minute).UTC().Format("20060102_150405")+"_000"), 0o755)
		}, backup.CheckPacks, backup.VerdictOK, "ok", nil},
		{"invalid pack", func(t *testing.T, o *backup.DoctorOptions, e *drEngine, s *drState) {
			os.Mkdir(filepath.Join(o.Target, backup.PackPrefix+"20200101_000000_000"), 0o755)
		}, backup.CheckPacks, backup.VerdictWarn, "invalid_pack", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, e, s := drHealthy(t)
			tc.mutate(t, &o, e, s)
			rep := MustDoctor(t, o)
			c := drCheck(t, rep, tc.check)
			if c.Verdict != tc.verdict || c.Code != tc.code {
				t.Fatalf("%s: %s %s, want %s %s:\n%s", tc.check, c.Verdict, c.Code, tc.verdict, tc.code, drDump(rep))
			}
			if tc.verdict == backup.VerdictWarn || tc.verdict == backup.VerdictFail {
				if c.Summary == "" {
					t.Errorf("%s: no summary", tc.check)
				}
				if want := rep.Verdict; want.Worse(tc.verdict) != want {
					t.Errorf("report verdict %s is better than the check's %s", rep.Verdict, tc.verdict)
				}
			}
			for name, v := range tc.also {
				if got := drCheck(t, rep, name).Verdict; got != v {
					t.Errorf("%s: %s, want %s", name, got, v)
				}
			}
		})
	}
}

func TestDoctorLockEvidence(t *testing.T) {
	o, _, s := drHealthy(t)
	s.lock = backup.LockInfo{Held: true, JobID: 9, Host: "nas-backup", PID: 4242, OwnerToken: "abcd1234",
		AcquiredAt: drNow.Add(-time.Minute), RenewedAt: drNow.Add(-5 * time.Second), ExpiresAt: drNow.Add(25 * time.Second)}
	c := drCheck(t, MustDoctor(t, o), backup.CheckLock)
	got := map[string]string{}
	for _, e := range c.Evidence {
		got[e.Key] = e.Value
	}
	for key, want := range map[string]string{"job_id": "9", "holder": "host nas-backup pid 4242", "lease_left": "25s"} {
		if !strings.Contains(got[key], want) {
			t.Errorf("evidence %s = %q, want it to contain %q", key, got[key], want)
		}
	}
	if !strings.Contains(c.Fix, "9") {
		t.Errorf("fix %q does not name the job", c.Fix)
	}
}

func TestDoctorChineseKeepsCodes(t *testing.T) {
	o, _, _ := drHealthy(t)
	o.Policy = mountcheck.Policy{FSTypes: []string{"cifs"}, AllowRootFS: true}
	o.Lang = "zh_CN.UTF-8"
	rep := MustDoctor(t, o)
	if rep.Lang != "zh-CN" {
		t.Errorf("lang %q", rep.Lang)
	}
	c := drCheck(t, rep, backup.CheckTarget)
	if c.Code != "target_wrong_fstype" || c.Title != "备份目标" || !strings.Contains(c.Summary, "文件系统") || !strings.Contains(c.Fix, "--fstype") {
		t.Errorf("zh-CN target check: %+v", c)
	}
	for _, e := range c.Evidence {
		if e.Key == "fstype" && e.Label != "文件系统" {
			t.Errorf("label of fstype: %q", e.Label)
		}
	}
}

func TestDoctorOptionsValidate(t *testing.T) {
	for _, o := range []backup.DoctorOptions{
		{Lang: "fr"},
		{Components: []backup.Component{"tapes"}},
		{RootWarnFree: 1, RootFailFree: 2},
		{Policy: mountcheck.Policy{ExpectedMountPoint: "relative"}},
	} {
		if _, err := backup.Doctor(context.Background(), o); !errors.Is(err, backup.ErrInvalidSpec) {
			t.Errorf("%+v: err %v, want ErrInvalidSpec", o, err)
		}
	}
	// Nothing given: every check but root fs and staging is skipped, and that is no failure.
	rep := MustDoctor(t, backup.DoctorOptions{StagingDir: t.TempDir(), RootWarnFree: 1, RootFailFree: 1})
	if rep.Verdict != backup.VerdictOK {
		t.Errorf("empty options: verdict %s:\n%s", rep.Verdict, drDump(rep))
	}
	skipped := 0
	for _, c := range rep.Checks {
		if c.Verdict == backup.VerdictSkip {
			skipped++
		}
	}
	if skipped != len(rep.Checks)-2 {
		t.Errorf("%d checks skipped, want all but root fs and staging:\n%s", skipped, drDump(rep))
	}
}

func TestVerdictWorse(t *testing.T) {
	order := []backup.Verdict{backup.VerdictSkip, backup.VerdictOK, backup.VerdictWarn, backup.VerdictFail}
	for i, a := range order {
		for j, b := range order {
			want := order[max(i, j)]
			if got := a.Worse(b); got != want {
				t.Errorf("%s.Worse(%s) = %s, want %s", a, b, got, want)
			}
		}
	}
}

// State reader against a real state DB written by a Manager.

func drManager(t *testing.T, dir string, cfg backup.ManagerConfig) *backup.Manager {
	t.Helper()
	cfg.StateDir = dir
	if cfg.Engine == nil {
		cfg.Engine = drNewEngine()
	}
	cfg.Settings = backup.DefaultSettings()
	cfg.Settings.TargetLocalDir = filepath.Join(dir, "packs")
	cfg.Settings.RagflowProjectName = "demo"
	cfg.DisableScheduler = true
	cfg.LeaseDuration = 30 * time.Second
	m, err := backup.NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func TestStateReaderMissingDB(t *testing.T) {
	_, err := backup.OpenStateReader(context.Background(), t.TempDir(), backup.StateReaderOptions{})
	if !errors.Is(err, backup.ErrStateDB) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v, want ErrStateDB and fs.ErrNotExist", err)
	}
}

func TestStateReaderRefusesUnknownSchemas(t *testing.T) {
	for _, v := range []int{0, backup.SchemaVersion() + 1} {
		dir := t.TempDir()
		conn, err := sqlite.OpenConn(filepath.Join(dir, backup.StateDBFile), sqlite.OpenReadWrite|sqlite.OpenCreate)
		if err != nil {
			t.Fatal(err)
		}
		sqlitex.ExecuteTransient(conn, fmt.Sprintf("PRAGMA user_version = %d", v), nil)
		conn.Close()
		if _, err := backup.OpenStateReader(context.Background(), dir, backup.StateReaderOptions{}); !errors.Is(err, backup.ErrStateDB) {
			t.Errorf("user_version %d: err %v, want ErrStateDB", v, err)
		}
		// Never migrated by the reader.
		conn, _ = sqlite.OpenConn(filepath.Join(dir, backup.StateDBFile), sqlite.OpenReadOnly)
		var got int
		sqlitex.ExecuteTransient(conn, "PRAGMA user_version", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { got = s.ColumnInt(0); return nil }})
		conn.Close()
		if got != v {
			t.Errorf("user_version changed from %d to %d", v, got)
		}
	}
}

func TestStateReaderLockAndJobsWhileTheDaemonRuns(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var once sync.Once
	rel := func() { once.Do(func() { close(release) }) }
	t.Cleanup(rel)
	m := drManager(t, dir, backup.ManagerConfig{
		Run: func(ctx context.Context, spec backup.Spec, p backup.ProgressFunc) (*backup.Result, error) {
			select {
			case <-release:
				return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_x"), Name: "migration_pack_x"}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	})
	ctx := context.Background()
	r, err := backup.OpenStateReader(ctx, dir, backup.StateReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if l, err := r.Lock(ctx); err != nil || l.Held || l.Stale || l.JobID != 0 {
		t.Fatalf("lock before any job: %+v %v", l, err)
	}
	job, err := m.Start(ctx, backup.JobRequest{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := r.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if !l.Held || l.Stale || l.JobID != job.ID || l.PID != os.Getpid() || l.Host != host || len(l.OwnerToken) != 8 {
		t.Fatalf("lock while job %d runs: %+v", job.ID, l)
	}
	if want, _ := m.Lock(ctx); want.JobID != l.JobID || want.Held != l.Held || !want.ExpiresAt.Equal(l.ExpiresAt) {
		t.Errorf("reader %+v, manager %+v", l, want)
	}

	// The same row judged from outside: owner dead on this host, or lease expired.
	dead, _ := backup.OpenStateReader(ctx, dir, backup.StateReaderOptions{ProcAlive: func(int, string) bool { return false }})
	defer dead.Close()
	if l, _ := dead.Lock(ctx); l.Held || !l.Stale || !strings.Contains(l.StaleReason, "not running") {
		t.Errorf("dead owner: %+v", l)
	}
	other, _ := backup.OpenStateReader(ctx, dir, backup.StateReaderOptions{Host: "elsewhere", ProcAlive: func(int, string) bool { return false }})
	defer other.Close()
	if l, _ := other.Lock(ctx); !l.Held {
		t.Errorf("an owner on another host is judged by expiry only: %+v", l)
	}
	late, _ := backup.OpenStateReader(ctx, dir, backup.StateReaderOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	defer late.Close()
	if l, _ := late.Lock(ctx); l.Held || !l.Stale || !strings.Contains(l.StaleReason, "expired") {
		t.Errorf("expired lease: %+v", l)
	}

	// Doctor reads the same through the reader.
	o, _, _ := drHealthy(t)
	o.State = r
	if c := drCheck(t, MustDoctor(t, o), backup.CheckLock); c.Code != "lock_held" {
		t.Errorf("doctor lock check: %s %s", c.Code, c.Summary)
	}

	rel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, err := r.List(ctx, backup.ListOptions{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 && jobs[0].Status == backup.JobCompleted {
			if l, _ := r.Lock(ctx); l.JobID != 0 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not completed in the state DB: %+v", jobs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, err := r.Settings(ctx)
	if err != nil || s.RagflowProjectName != "demo" || s.TargetLocalDir != filepath.Join(dir, "packs") {
		t.Errorf("settings %+v %v", s, err)
	}
	if c := drCheck(t, MustDoctor(t, backup.DoctorOptions{State: m, StagingDir: t.TempDir(), RootWarnFree: 1, RootFailFree: 1}), backup.CheckJobs); c.Verdict != backup.VerdictOK {
		t.Errorf("a *Manager as state source: %s %s", c.Verdict, c.Summary)
	}
}

var (
	_ backup.StateSource  = (*backup.Manager)(nil)
	_ backup.StateSource  = (*backup.StateReader)(nil)
	_ backup.DoctorEngine = (*dockerapi.Client)(nil)
)
