package precheck_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// pcOptions are the options of a backup of the demo stack that passes
// every check: a local containerd engine, a database, room everywhere.
func pcOptions(t *testing.T) (precheck.Options, *backuptest.Engine) {
	t.Helper()
	eng := backuptest.NewEngine()
	eng.EngineInfo.ImageStore, eng.EngineInfo.Local = dockerapi.ImageStoreContainerd, true
	return precheck.Options{
		Engine: eng, Project: "demo", Target: filepath.Join(t.TempDir(), "packs"), Policy: backuptest.Relaxed,
		StagingDir: t.TempDir(), SQLitePath: backuptest.MustSQLite(t, t.TempDir(), "app.db", "ada"),
		Components: pack.AllComponents, Code: backup.ErrorCode, ErrNothingToBackUp: backup.ErrNothingToBackUp,
	}, eng
}

var errUnsized = errors.New("image sizes unknown")

// unsizedImages is an engine whose image sizes cannot be estimated.
type unsizedImages struct{ *backuptest.Engine }

func (unsizedImages) ImagesUniqueBytes(context.Context, []dockerapi.Image) (int64, error) {
	return 0, errUnsized
}

// pcRun runs every step and returns the checker and the results by name.
func pcRun(t *testing.T, o precheck.Options) (*precheck.Checker, map[string]precheck.Result) {
	t.Helper()
	c, err := precheck.New(o)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]precheck.Result{}
	for _, s := range c.Steps() {
		r := s.Run(context.Background())
		if r.Check.Name != s.Name || r.Check.Title == "" || r.Check.Summary == "" {
			t.Errorf("step %s: check %+v", s.Name, r.Check)
		}
		if (r.Check.Status == check.Fail) != (r.Err != nil) {
			t.Errorf("%s: status %s with error %v", s.Name, r.Check.Status, r.Err)
		}
		out[s.Name] = r
	}
	return c, out
}

func TestHealthyFactsAndNothingWritten(t *testing.T) {
	o, _ := pcOptions(t)
	c, rs := pcRun(t, o)
	for name, r := range rs {
		want := check.OK
		if name == precheck.NameStack {
			want = check.Warn // the demo stack has a stopped container and an untagged image
		}
		if r.Check.Status != want {
			t.Errorf("%s: %s %s (%s)", name, r.Check.Status, r.Check.Code, r.Check.Summary)
		}
	}
	if c.Facts.Engine == nil || c.Facts.Stack == nil || c.Facts.Estimate == nil || c.Facts.DBSize <= 0 || c.Facts.Estimate.DB != c.Facts.DBSize {
		t.Fatalf("facts %+v", c.Facts)
	}
	if c.Facts.Required != uint64(float64(c.Facts.Estimate.Total())*1.1) || c.Facts.StagingFree == 0 || c.Facts.Target.MountPoint == "" {
		t.Errorf("space facts %+v", c.Facts)
	}
	if len(c.Facts.Skipped) != len(c.Facts.Stack.Skipped) {
		t.Errorf("skipped %+v", c.Facts.Skipped)
	}
	if _, err := os.Stat(o.Target); !errors.Is(err, os.ErrNotExist) {
		t.Error("the target was created without ProbeTarget")
	}
	if ents, _ := os.ReadDir(o.StagingDir); len(ents) != 0 {
		t.Errorf("staging holds %v without a deep look", ents)
	}
}

func TestFailuresCarryTheBackupsErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, o *precheck.Options, e *backuptest.Engine)
		check  string
		code   string
		is     error
	}{
		{"engine not opened", func(_ *testing.T, o *precheck.Options, _ *backuptest.Engine) {
			o.Engine, o.EngineErr = nil, fmt.Errorf("%w: no socket", dockerapi.ErrEngineUnreachable)
		}, precheck.NameEngine, "engine_unreachable", dockerapi.ErrEngineUnreachable},
		{"unknown project", func(_ *testing.T, o *precheck.Options, _ *backuptest.Engine) { o.Project = "nope" },
			precheck.NameStack, "project_not_found", dockerapi.ErrProjectNotFound},
		{"unknown service to stop", func(_ *testing.T, o *precheck.Options, _ *backuptest.Engine) { o.StopServices = []string{"app", "db"} },
			precheck.NameStack, "invalid_spec", backup.ErrInvalidSpec},
		{"image estimate fails", func(_ *testing.T, o *precheck.Options, e *backuptest.Engine) { o.Engine = unsizedImages{e} },
			precheck.NameStack, "estimate_failed", errUnsized},
		{"nothing to back up", func(_ *testing.T, o *precheck.Options, e *backuptest.Engine) {
			o.Components, e.Stack.Volumes = []pack.Component{pack.ComponentVolumes}, nil
		}, precheck.NameStack, "nothing_to_back_up", backup.ErrNothingToBackUp},
		{"database missing", func(_ *testing.T, o *precheck.Options, _ *backuptest.Engine) { o.SQLitePath += ".gone" },
			precheck.NameSQLite, "sqlite_not_found", sqlitesnap.ErrNotFound},
		{"target on the root fs", func(_ *testing.T, o *precheck.Options, _ *backuptest.Engine) {
			o.Policy = mountcheck.Policy{AnyFSType: true}
		},
			precheck.NameTarget, "target_not_mounted", mountcheck.ErrNotMounted},
		{"target too small", func(_ *testing.T, o *precheck.Options, _ *backuptest.Engine) {
			o.AdjustEstimate = func(e precheck.Estimate) precheck.Estimate { e.Images = 1 << 60; return e }
		}, precheck.NameTarget, "insufficient_space", mountcheck.ErrInsufficientSpace},
		{"staging too small", func(_ *testing.T, o *precheck.Options, _ *backuptest.Engine) {
			o.AdjustEstimate = func(e precheck.Estimate) precheck.Estimate { e.DB = 1 << 60; return e }
		}, precheck.NameStaging, "insufficient_space", mountcheck.ErrInsufficientSpace},
		{"staging is a file", func(t *testing.T, o *precheck.Options, _ *backuptest.Engine) {
			o.StagingDir = filepath.Join(t.TempDir(), "file")
			os.WriteFile(o.StagingDir, nil, 0o644)
		}, precheck.NameStaging, "staging_unusable", nil},
		{"graph-driver data root too small", func(t *testing.T, o *precheck.Options, e *backuptest.Engine) {
			e.EngineInfo.ImageStore, e.EngineInfo.DataRoot = dockerapi.ImageStoreGraphDriver, t.TempDir()
			o.AdjustEstimate = func(e precheck.Estimate) precheck.Estimate { e.Images = 1 << 60; return e }
		}, precheck.NameDataRoot, "insufficient_space", mountcheck.ErrInsufficientSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, e := pcOptions(t)
			tc.mutate(t, &o, e)
			_, rs := pcRun(t, o)
			r := rs[tc.check]
			if r.Check.Status != check.Fail || r.Err == nil {
				t.Fatalf("%s: %s %s, error %v", tc.check, r.Check.Status, r.Check.Code, r.Err)
			}
			if tc.code != "" && (r.Check.Code != tc.code || r.Check.Detail == "" || r.Check.Fix == "") {
				t.Errorf("%s: code %q, want %q; detail %q, fix %q", tc.check, r.Check.Code, tc.code, r.Check.Detail, r.Check.Fix)
			}
			if tc.is != nil && !errors.Is(r.Err, tc.is) {
				t.Errorf("error %v, want %v", r.Err, tc.is)
			}
		})
	}
}

// A deep look (the doctor's) finds what a backup meets only later, and
// probes the staging directory; a plain one (Plan, Run) does neither.
func TestDeepLook(t *testing.T) {
	o, _ := pcOptions(t)
	o.SQLitePath = filepath.Join(t.TempDir(), "x.db")
	os.WriteFile(o.SQLitePath, []byte(strings.Repeat("not sqlite ", 20)), 0o644)
	_, rs := pcRun(t, o)
	if r := rs[precheck.NameSQLite]; r.Check.Status != check.OK {
		t.Errorf("plain: %s %s", r.Check.Status, r.Check.Code)
	}
	o.Deep = true
	_, rs = pcRun(t, o)
	if r := rs[precheck.NameSQLite]; r.Check.Code != "sqlite_corrupt" || !errors.Is(r.Err, sqlitesnap.ErrNotDatabase) {
		t.Errorf("deep: %s %s %v", r.Check.Status, r.Check.Code, r.Err)
	}
	if r := rs[precheck.NameStaging]; r.Check.Status != check.OK || !strings.Contains(r.Check.Summary, "writable") {
		t.Errorf("deep staging: %+v", r.Check)
	}

	o.Deep, o.Components = false, []pack.Component{pack.ComponentVolumes}
	_, rs = pcRun(t, o)
	for _, name := range []string{precheck.NameSQLite, precheck.NameStaging} {
		if r := rs[name]; r.Check.Status != check.Skip {
			t.Errorf("%s without the database: %s", name, r.Check.Status)
		}
	}
}

func TestSkippedWithoutInputs(t *testing.T) {
	_, rs := pcRun(t, precheck.Options{StagingDir: t.TempDir(), Code: backup.ErrorCode, ErrNothingToBackUp: backup.ErrNothingToBackUp, Deep: true})
	for name, r := range rs {
		want := check.Skip
		if name == precheck.NameStaging {
			want = check.OK
		}
		if r.Check.Status != want || (want == check.Skip && r.Check.Code != "skipped") {
			t.Errorf("%s: %s %s", name, r.Check.Status, r.Check.Code)
		}
	}
	if _, err := precheck.New(precheck.Options{}); err == nil {
		t.Error("options without the error vocabulary accepted")
	}
}

func TestChineseKeepsCodes(t *testing.T) {
	o, _ := pcOptions(t)
	o.Policy, o.Lang = mountcheck.Policy{FSTypes: []string{"cifs"}, AllowRootFS: true}, "zh-CN"
	_, rs := pcRun(t, o)
	c := rs[precheck.NameTarget].Check
	if c.Code != "target_wrong_fstype" || c.Title != "备份目标" || !strings.Contains(c.Summary, "文件系统") {
		t.Errorf("zh-CN target: %+v", c)
	}
	for _, e := range c.Evidence {
		if e.Key == "fstype" && e.Label != "文件系统" {
			t.Errorf("label of fstype: %q", e.Label)
		}
	}
}

func TestBuilderFirstOfTheWorstNamesTheFinding(t *testing.T) {
	b := precheck.NewBuilder(i18n.For(i18n.English), "stack")
	b.OK("precheck.stack.skip")
	b.Raise(check.Warn, "first_warn", "w1", "")
	b.Raise(check.Warn, "second_warn", "w2", "")
	b.Fail(errors.New("one"), "first_fail", "f1", "fix it")
	b.Fail(errors.New("two"), "second_fail", "f2", "")
	r := b.Result()
	if r.Check.Status != check.Fail || r.Check.Code != "first_fail" || r.Check.Summary != "f1" || r.Check.Fix != "fix it" {
		t.Errorf("check %+v", r.Check)
	}
	if r.Err == nil || r.Err.Error() != "one\ntwo" || r.Check.Detail != "one\ntwo" {
		t.Errorf("error %v, detail %q", r.Err, r.Check.Detail)
	}
}

// fileModeOps creates the probe file as a CIFS mount with file_mode=mode
// does: whatever mode was asked, the file has mode.
type fileModeOps struct {
	mountcheck.OSFileOps
	mode os.FileMode
}

func (o fileModeOps) Create(ctx context.Context, name string) (mountcheck.ProbeFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = f.Chmod(o.mode)
	}
	return f, err
}

func TestTargetReportsTheProbesEffectiveMode(t *testing.T) {
	for _, c := range []struct {
		mode   os.FileMode // the mount's file_mode; 0: the real filesystem
		status check.Status
		want   string
	}{
		{0, check.OK, "0600 (-rw-------)"},
		{0o640, check.OK, "0640 (-rw-r-----)"},
		{0o755, check.Warn, "0755 (-rwxr-xr-x)"},
	} {
		o, _ := pcOptions(t)
		o.ProbeTarget = true
		if c.mode != 0 {
			o.Policy.FileOps = fileModeOps{mode: c.mode}
		}
		_, rs := pcRun(t, o)
		got := rs[precheck.NameTarget].Check
		ev := ""
		for _, e := range got.Evidence {
			if e.Key == "probe_file_mode" {
				ev = e.Value
			}
		}
		if got.Status != c.status || ev != c.want {
			t.Errorf("file_mode %04o: %s %q, want %s %q (%+v)", c.mode, got.Status, ev, c.status, c.want, got)
		}
		if c.status == check.Warn && (got.Code != "world_readable" || !strings.Contains(got.Summary, "0755") || got.Fix == "") {
			t.Errorf("file_mode %04o: code %q summary %q fix %q", c.mode, got.Code, got.Summary, got.Fix)
		}
	}
}
