package doctor_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
)

// drNewEngine is the fake engine as the doctor tests see it: a containerd
// image store, one running container, one volume.
func drNewEngine() *backuptest.Engine {
	e := backuptest.NewEngine()
	e.EngineInfo.ImageStore, e.EngineInfo.StorageDriver, e.EngineInfo.Local = dockerapi.ImageStoreContainerd, "overlayfs", true
	st := &e.Stack
	st.Services, st.Containers, st.Images, st.Skipped = st.Services[:1], st.Containers[:1], st.Images[:1], nil
	st.Volumes = []dockerapi.Volume{{Name: "demo_data", Driver: "local", Size: 1000, Labels: map[string]string{dockerapi.LabelProject: "demo"}}}
	e.ImageSize = 4096
	return e
}

// drState is a fake StateSource.
type drState struct {
	lock    jobs.LockInfo
	jobs    []jobs.Job
	lockErr error
}

func (s *drState) Lock(context.Context) (jobs.LockInfo, error) { return s.lock, s.lockErr }
func (s *drState) List(_ context.Context, o jobs.ListOptions) ([]jobs.Job, error) {
	return s.jobs[:min(len(s.jobs), o.Limit)], nil
}

var drNow = time.Now()

// drHealthy is a setup where every check is ok.
func drHealthy(t *testing.T) (doctor.Options, *backuptest.Engine, *drState) {
	t.Helper()
	root := t.TempDir()
	target := filepath.Join(root, "packs")
	backuptest.MustManifestOnlyPack(t, target, drNow.Add(-2*time.Hour))
	staging := filepath.Join(root, "staging")
	os.Mkdir(staging, 0o755)
	dbdir := filepath.Join(root, "data")
	os.Mkdir(dbdir, 0o755)
	eng := drNewEngine()
	st := &drState{jobs: []jobs.Job{{ID: 3, Kind: jobs.KindFull, Status: jobs.StatusCompleted, Progress: 100, CreatedAtMs: drNow.Add(-2 * time.Hour).UnixMilli(),
		StartedAtMs: backuptest.Int(drNow.Add(-2 * time.Hour).UnixMilli()), FinishedAtMs: backuptest.Int(drNow.Add(-2*time.Hour + time.Minute).UnixMilli()), PackName: backuptest.Str("migration_pack_x")}}}
	return doctor.Options{
		Engine: eng, Project: "demo", Target: target, StagingDir: staging, SQLitePath: backuptest.MustSQLite(t, dbdir, "app.db"),
		Policy: mountcheck.Policy{AnyFSType: true, AllowRootFS: true}, State: st, StateDesc: "fake",
		RootWarnFree: 1, RootFailFree: 1, Now: func() time.Time { return drNow },
	}, eng, st
}

func MustDoctor(t *testing.T, o doctor.Options) *doctor.Report {
	t.Helper()
	rep, err := doctor.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Doctor: %v", err)
	}
	if len(rep.Checks) != len(doctor.Checks()) {
		t.Fatalf("%d checks, want %d", len(rep.Checks), len(doctor.Checks()))
	}
	return rep
}

func drCheck(t *testing.T, rep *doctor.Report, name string) check.Check {
	t.Helper()
	c, ok := rep.Check(name)
	if !ok {
		t.Fatalf("no check %q", name)
	}
	return c
}

func drDump(rep *doctor.Report) string {
	var b strings.Builder
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "  %-9s %-4s %-20s %s | %s\n", c.Name, c.Status, c.Code, c.Summary, c.Detail)
	}
	return b.String()
}

func TestDoctorHealthyAllOK(t *testing.T) {
	o, _, _ := drHealthy(t)
	rep := MustDoctor(t, o)
	if rep.Verdict != check.OK {
		t.Fatalf("verdict %s, want ok:\n%s", rep.Verdict, drDump(rep))
	}
	for _, c := range rep.Checks {
		if c.Name == doctor.CheckStore && c.Status == check.Skip {
			continue // a target of classic packs has no store (store_test.go checks one)
		}
		if c.Name == doctor.CheckEncryption && c.Status == check.Skip {
			continue // nothing sealed, nothing required (seal_test.go checks them)
		}
		if c.Status != check.OK || c.Code != "ok" {
			t.Errorf("check %s: %s %s (%s)", c.Name, c.Status, c.Code, c.Summary)
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
		mutate  func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState)
		check   string
		verdict check.Status
		code    string
		// also: further checks and their verdicts
		also map[string]check.Status
	}{
		{"engine unreachable", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.InfoErr = fmt.Errorf("ping: %w at unix:///nope.sock", dockerapi.ErrEngineUnreachable)
		}, doctor.CheckEngine, check.Fail, "engine_unreachable",
			map[string]check.Status{doctor.CheckStack: check.Skip, doctor.CheckDataRoot: check.Skip}},
		{"engine hangs", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.BlockInfo, o.CheckTimeout = true, 50*time.Millisecond
		}, doctor.CheckEngine, check.Fail, "timeout", nil},
		{"unknown project", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.Project = "ragflow_compose"
		}, doctor.CheckStack, check.Fail, "project_not_found", nil},
		{"anonymous volume", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.Stack.Skipped = append(e.Stack.Skipped, dockerapi.Skipped{Kind: "anonymous", Source: strings.Repeat("f", 64), Destination: "/cache", Container: "demo_app_1"})
		}, doctor.CheckStack, check.Warn, "anonymous_volumes", nil},
		{"bind mount", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.Stack.Skipped = append(e.Stack.Skipped, dockerapi.Skipped{Kind: "bind", Source: "/srv/conf", Destination: "/conf", Container: "demo_app_1"})
		}, doctor.CheckStack, check.Warn, "bind_mounts", nil},
		{"bind mount of the database dir is fine", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.Stack.Skipped = append(e.Stack.Skipped, dockerapi.Skipped{Kind: "bind", Source: filepath.Dir(o.SQLitePath), Destination: "/data", Container: "demo_app_1"})
		}, doctor.CheckStack, check.OK, "ok", nil},
		{"untagged image", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.Stack.Images[0].RepoTags = nil
		}, doctor.CheckStack, check.Warn, "untagged_images", nil},
		{"stopped container", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.Stack.Containers[0].Running, e.Stack.Containers[0].State = false, "exited"
		}, doctor.CheckStack, check.Warn, "stopped_containers", nil},
		{"nothing to back up", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.SQLitePath = ""
			e.Stack.Volumes, e.Stack.Images = nil, nil
		}, doctor.CheckStack, check.Fail, "nothing_to_back_up", nil},
		{"target on the root fs", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.Policy = mountcheck.Policy{AnyFSType: true}
		}, doctor.CheckTarget, check.Fail, "target_not_mounted", nil},
		{"target of the wrong fstype", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.Policy = mountcheck.Policy{FSTypes: []string{"cifs"}, AllowRootFS: true}
		}, doctor.CheckTarget, check.Fail, "target_wrong_fstype", nil},
		{"target too small for the estimate", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.ImageSize = 1 << 60
		}, doctor.CheckTarget, check.Fail, "insufficient_space", nil},
		{"graph-driver data root too small", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.EngineInfo.ImageStore, e.EngineInfo.DataRoot, e.ImageSize = dockerapi.ImageStoreGraphDriver, t.TempDir(), 1<<60
		}, doctor.CheckDataRoot, check.Fail, "insufficient_space", nil},
		{"graph-driver data root not visible (in a container)", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.EngineInfo.ImageStore, e.EngineInfo.DataRoot = dockerapi.ImageStoreGraphDriver, "/nonexistent/docker"
		}, doctor.CheckDataRoot, check.Warn, "data_root_not_visible", nil},
		{"remote graph-driver engine", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			e.EngineInfo.ImageStore, e.EngineInfo.Local = dockerapi.ImageStoreGraphDriver, false
		}, doctor.CheckDataRoot, check.Warn, "data_root_remote", nil},
		{"staging dir missing", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.StagingDir = filepath.Join(o.StagingDir, "nope")
		}, doctor.CheckStaging, check.Fail, "staging_unusable", nil},
		{"database missing", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.SQLitePath += ".gone"
		}, doctor.CheckSQLite, check.Fail, "sqlite_not_found", nil},
		{"not a database", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			p := filepath.Join(t.TempDir(), "x.db")
			os.WriteFile(p, []byte(strings.Repeat("not sqlite ", 20)), 0o644)
			o.SQLitePath = p
		}, doctor.CheckSQLite, check.Fail, "sqlite_corrupt", nil},
		{"root fs low", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.RootWarnFree = 1 << 62
		}, doctor.CheckRootFS, check.Warn, "root_fs_low", nil},
		{"root fs full", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.RootWarnFree, o.RootFailFree = 1<<62, 1<<62
		}, doctor.CheckRootFS, check.Fail, "root_fs_full", nil},
		{"lock held", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			s.lock = jobs.LockInfo{Held: true, JobID: 9, Host: "h", PID: 42, OwnerToken: "abcd1234",
				AcquiredAt: drNow.Add(-time.Minute), RenewedAt: drNow.Add(-5 * time.Second), ExpiresAt: drNow.Add(25 * time.Second)}
		}, doctor.CheckLock, check.Warn, "lock_held", nil},
		{"lock stale", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			s.lock = jobs.LockInfo{Stale: true, StaleReason: "expired", JobID: 9, Host: "h", PID: 42,
				AcquiredAt: drNow.Add(-time.Hour), RenewedAt: drNow.Add(-time.Hour), ExpiresAt: drNow.Add(-59 * time.Minute)}
		}, doctor.CheckLock, check.Warn, "lock_stale", nil},
		{"state unreadable", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			s.lockErr = errors.New("state db: database disk image is malformed")
		}, doctor.CheckLock, check.Fail, "state_unreadable", nil},
		{"no state source", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.State = nil
		}, doctor.CheckLock, check.Skip, "skipped", map[string]check.Status{doctor.CheckJobs: check.Skip}},
		{"last job failed", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			s.jobs = append([]jobs.Job{{ID: 4, Kind: jobs.KindFull, Status: jobs.StatusFailed, CreatedAtMs: drNow.UnixMilli(),
				ErrorCode: backuptest.Str("target_not_mounted"), Detail: backuptest.Str("not mounted: /mnt/replica is on the root filesystem")}}, s.jobs...)
		}, doctor.CheckJobs, check.Warn, "last_job_failed", nil},
		{"no jobs yet", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			s.jobs = nil
		}, doctor.CheckJobs, check.OK, "ok", nil},
		{"no pack yet", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			o.Target = t.TempDir()
		}, doctor.CheckPacks, check.Warn, "no_pack", nil},
		{"stale partial dir", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			os.Mkdir(filepath.Join(o.Target, pack.PartialPrefix+drNow.Add(-3*time.Hour).UTC().Format("20060102_150405")+"_000"), 0o755)
		}, doctor.CheckPacks, check.Warn, "stale_partial", nil},
		{"young partial dir is a backup in progress", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			os.Mkdir(filepath.Join(o.Target, pack.PartialPrefix+drNow.Add(-time.Minute).UTC().Format("20060102_150405")+"_000"), 0o755)
		}, doctor.CheckPacks, check.OK, "ok", nil},
		{"invalid pack", func(t *testing.T, o *doctor.Options, e *backuptest.Engine, s *drState) {
			os.Mkdir(filepath.Join(o.Target, pack.NamePrefix+"20200101_000000_000"), 0o755)
		}, doctor.CheckPacks, check.Warn, "invalid_pack", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, e, s := drHealthy(t)
			tc.mutate(t, &o, e, s)
			rep := MustDoctor(t, o)
			c := drCheck(t, rep, tc.check)
			if c.Status != tc.verdict || c.Code != tc.code {
				t.Fatalf("%s: %s %s, want %s %s:\n%s", tc.check, c.Status, c.Code, tc.verdict, tc.code, drDump(rep))
			}
			if tc.verdict == check.Warn || tc.verdict == check.Fail {
				if c.Summary == "" {
					t.Errorf("%s: no summary", tc.check)
				}
				if want := rep.Verdict; want.Worse(tc.verdict) != want {
					t.Errorf("report verdict %s is better than the check's %s", rep.Verdict, tc.verdict)
				}
			}
			for name, v := range tc.also {
				if got := drCheck(t, rep, name).Status; got != v {
					t.Errorf("%s: %s, want %s", name, got, v)
				}
			}
		})
	}
}

func TestDoctorLockEvidence(t *testing.T) {
	o, _, s := drHealthy(t)
	s.lock = jobs.LockInfo{Held: true, JobID: 9, Host: "nas-backup", PID: 4242, OwnerToken: "abcd1234",
		AcquiredAt: drNow.Add(-time.Minute), RenewedAt: drNow.Add(-5 * time.Second), ExpiresAt: drNow.Add(25 * time.Second)}
	c := drCheck(t, MustDoctor(t, o), doctor.CheckLock)
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
	c := drCheck(t, rep, doctor.CheckTarget)
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
	for _, o := range []doctor.Options{
		{Lang: "fr"},
		{Components: []pack.Component{"tapes"}},
		{RootWarnFree: 1, RootFailFree: 2},
		{Policy: mountcheck.Policy{ExpectedMountPoint: "relative"}},
	} {
		if _, err := doctor.Run(context.Background(), o); !errors.Is(err, backup.ErrInvalidSpec) {
			t.Errorf("%+v: err %v, want ErrInvalidSpec", o, err)
		}
	}
	// Nothing given: every check but root fs and staging is skipped, and that is no failure.
	rep := MustDoctor(t, doctor.Options{StagingDir: t.TempDir(), RootWarnFree: 1, RootFailFree: 1})
	if rep.Verdict != check.OK {
		t.Errorf("empty options: verdict %s:\n%s", rep.Verdict, drDump(rep))
	}
	skipped := 0
	for _, c := range rep.Checks {
		if c.Status == check.Skip {
			skipped++
		}
	}
	if skipped != len(rep.Checks)-2 {
		t.Errorf("%d checks skipped, want all but root fs and staging:\n%s", skipped, drDump(rep))
	}
}

func TestVerdictWorse(t *testing.T) {
	order := []check.Status{check.Skip, check.OK, check.Warn, check.Fail}
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

func drManager(t *testing.T, dir string, cfg jobs.Config) *jobs.Manager {
	t.Helper()
	cfg.StateDir = dir
	if cfg.Engine == nil {
		cfg.Engine = drNewEngine()
	}
	cfg.Settings = settings.Default()
	cfg.Settings.TargetLocalDir = filepath.Join(dir, "packs")
	cfg.Settings.RagflowProjectName = "demo"
	cfg.LeaseDuration = 30 * time.Second
	return backuptest.MustManager(t, cfg)
}

func TestStateReaderMissingDB(t *testing.T) {
	_, err := jobs.OpenStateReader(context.Background(), t.TempDir(), jobs.StateReaderOptions{})
	if !errors.Is(err, jobs.ErrStateDB) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v, want ErrStateDB and fs.ErrNotExist", err)
	}
}

func TestStateReaderRefusesUnknownSchemas(t *testing.T) {
	for _, v := range []int{0, jobs.SchemaVersion() + 1} {
		dir := t.TempDir()
		conn, err := sqlite.OpenConn(filepath.Join(dir, jobs.StateDBFile), sqlite.OpenReadWrite|sqlite.OpenCreate)
		if err != nil {
			t.Fatal(err)
		}
		sqlitex.ExecuteTransient(conn, fmt.Sprintf("PRAGMA user_version = %d", v), nil)
		conn.Close()
		if _, err := jobs.OpenStateReader(context.Background(), dir, jobs.StateReaderOptions{}); !errors.Is(err, jobs.ErrStateDB) {
			t.Errorf("user_version %d: err %v, want ErrStateDB", v, err)
		}
		// Never migrated by the reader.
		conn, _ = sqlite.OpenConn(filepath.Join(dir, jobs.StateDBFile), sqlite.OpenReadOnly)
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
	m := drManager(t, dir, jobs.Config{
		Run: func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
			select {
			case <-release:
				return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_x"), Name: "migration_pack_x"}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	})
	ctx := context.Background()
	r, err := jobs.OpenStateReader(ctx, dir, jobs.StateReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if l, err := r.Lock(ctx); err != nil || l.Held || l.Stale || l.JobID != 0 {
		t.Fatalf("lock before any job: %+v %v", l, err)
	}
	job, err := m.Start(ctx, jobs.Request{})
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
	dead, _ := jobs.OpenStateReader(ctx, dir, jobs.StateReaderOptions{ProcAlive: func(int, string) bool { return false }})
	defer dead.Close()
	if l, _ := dead.Lock(ctx); l.Held || !l.Stale || !strings.Contains(l.StaleReason, "not running") {
		t.Errorf("dead owner: %+v", l)
	}
	other, _ := jobs.OpenStateReader(ctx, dir, jobs.StateReaderOptions{Host: "elsewhere", ProcAlive: func(int, string) bool { return false }})
	defer other.Close()
	if l, _ := other.Lock(ctx); !l.Held {
		t.Errorf("an owner on another host is judged by expiry only: %+v", l)
	}
	late, _ := jobs.OpenStateReader(ctx, dir, jobs.StateReaderOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	defer late.Close()
	if l, _ := late.Lock(ctx); l.Held || !l.Stale || !strings.Contains(l.StaleReason, "expired") {
		t.Errorf("expired lease: %+v", l)
	}

	// Doctor reads the same through the reader.
	o, _, _ := drHealthy(t)
	o.State = r
	if c := drCheck(t, MustDoctor(t, o), doctor.CheckLock); c.Code != "lock_held" {
		t.Errorf("doctor lock check: %s %s", c.Code, c.Summary)
	}

	rel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recent, err := r.List(ctx, jobs.ListOptions{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(recent) == 1 && recent[0].Status == jobs.StatusCompleted {
			if l, _ := r.Lock(ctx); l.JobID != 0 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not completed in the state DB: %+v", recent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, err := r.Settings(ctx)
	if err != nil || s.RagflowProjectName != "demo" || s.TargetLocalDir != filepath.Join(dir, "packs") {
		t.Errorf("settings %+v %v", s, err)
	}
	if c := drCheck(t, MustDoctor(t, doctor.Options{State: m, StagingDir: t.TempDir(), RootWarnFree: 1, RootFailFree: 1}), doctor.CheckJobs); c.Status != check.OK {
		t.Errorf("a *Manager as state source: %s %s", c.Status, c.Summary)
	}
}

var (
	_ doctor.StateSource = (*jobs.Manager)(nil)
	_ doctor.StateSource = (*jobs.StateReader)(nil)
	_ doctor.Engine      = (*dockerapi.Client)(nil)
)
