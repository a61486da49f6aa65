package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/mountcheck"
)

// relaxed is the policy for unit tests: the temp dir is on the root fs.
var relaxed = mountcheck.Policy{AnyFSType: true, AllowRootFS: true, ProbeTimeout: 5e9}

func MustSQLite(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "auth.db")
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);
		INSERT INTO users(name) VALUES ('ada'), ('grace');`, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func MustSpec(t *testing.T, eng backup.Engine) backup.Spec {
	t.Helper()
	dir := t.TempDir()
	return backup.Spec{
		Engine:     eng,
		Project:    "demo",
		Target:     filepath.Join(dir, "target"),
		Policy:     relaxed,
		SQLitePath: MustSQLite(t, t.TempDir()),
		StagingDir: t.TempDir(),
	}
}

type progressLog struct {
	mu  sync.Mutex
	all []backup.Progress
}

func (p *progressLog) fn(pr backup.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all = append(p.all, pr)
}

func MustEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRunWritesCompletePack(t *testing.T) {
	eng := newFakeEngine()
	spec := MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	var pl progressLog
	res, err := backup.Run(context.Background(), spec, pl.fn)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := regexp.MatchString(`^migration_pack_\d{8}_\d{6}_\d{3}$`, res.Name); !ok {
		t.Fatalf("pack name %q", res.Name)
	}
	if got := MustEntries(t, spec.Target); len(got) != 1 || got[0] != res.Name {
		t.Fatalf("target holds %v, want only %s", got, res.Name)
	}
	m, hash, err := backup.ReadManifest(context.Background(), res.Pack)
	if err != nil {
		t.Fatal(err)
	}
	if hash != res.PackageHash {
		t.Fatalf("package hash %s, manifest sha256 %s", res.PackageHash, hash)
	}
	for _, f := range m.Files {
		sum, n, err := fsutil.HashFile(context.Background(), filepath.Join(res.Pack, f.Path))
		if err != nil || sum != f.SHA256 || n != f.Size {
			t.Errorf("%s: sha %s size %d err %v; manifest says %s %d", f.Path, sum, n, err, f.SHA256, f.Size)
		}
	}
	wantFiles := []string{"auth.db", "images.tar", "volumes/demo_data.tar", "volumes/shared.tar"}
	var gotFiles []string
	for _, f := range m.Files {
		gotFiles = append(gotFiles, f.Path)
	}
	if strings.Join(gotFiles, ",") != strings.Join(wantFiles, ",") {
		t.Fatalf("files %v, want %v", gotFiles, wantFiles)
	}
	if m.SQLite == nil || m.SQLite.Check != "ok" || m.SQLite.JournalMode != "wal" {
		t.Fatalf("sqlite entry %+v", m.SQLite)
	}
	if len(m.Images) != 2 || m.Images[1].ConfigDigest != eng.stack.Images[1].ID || len(m.Images[1].RepoTags) != 0 {
		t.Fatalf("images %+v", m.Images)
	}
	if !m.Volumes[1].External || m.Volumes[0].Labels["com.docker.compose.project"] != "demo" {
		t.Fatalf("volumes %+v", m.Volumes)
	}
	if len(m.Skipped) != 1 || m.Skipped[0].Kind != "bind" {
		t.Fatalf("skipped %+v", m.Skipped)
	}
	// The untagged image is saved by ID, the tagged one by tag, in one call.
	if len(eng.saved) != 1 || strings.Join(eng.saved[0], " ") != "demo/app:1 "+eng.stack.Images[1].ID {
		t.Fatalf("SaveImages calls %v", eng.saved)
	}
	if !eng.isRunning("c-app") || eng.stopCalls != 1 || eng.startCalls != 1 {
		t.Fatalf("app running=%v stops=%d starts=%d", eng.isRunning("c-app"), eng.stopCalls, eng.startCalls)
	}
	sumCmd := exec.Command("sha256sum", "-c", "--quiet", "SHA256SUMS")
	sumCmd.Dir = res.Pack
	if out, err := sumCmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c in the pack: %v\n%s", err, out)
	}
	// Progress: monotonic, steps in order, ends at 100.
	last, order := -1, []backup.Step{}
	for _, p := range pl.all {
		if p.Percent < last {
			t.Fatalf("progress went backwards: %d after %d", p.Percent, last)
		}
		last = p.Percent
		if len(order) == 0 || order[len(order)-1] != p.Step {
			order = append(order, p.Step)
		}
	}
	if last != 100 {
		t.Fatalf("final percent %d", last)
	}
	want := "precheck sqlite volumes images compose manifest finalize"
	var got []string
	for _, s := range order {
		got = append(got, string(s))
	}
	if strings.Join(got, " ") != want {
		t.Fatalf("steps %v, want %s", got, want)
	}
}

func TestRunFailureRemovesPartialAndRestarts(t *testing.T) {
	eng := newFakeEngine()
	eng.exportErr["shared"] = dockerapi.ErrVolumeExportIncomplete
	spec := MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, dockerapi.ErrVolumeExportIncomplete) {
		t.Fatalf("err = %v", err)
	}
	if backup.FailedStep(err) != backup.StepVolumes || !strings.Contains(err.Error(), "shared") {
		t.Fatalf("error does not name the step and volume: %v", err)
	}
	if backup.ErrorCode(err) != "volume_export_incomplete" {
		t.Fatalf("code %s", backup.ErrorCode(err))
	}
	if got := MustEntries(t, spec.Target); len(got) != 0 {
		t.Fatalf("target holds %v after a failure", got)
	}
	if !eng.isRunning("c-app") {
		t.Fatal("the stopped service was not started again")
	}
}

func TestRunImageSaveFailureLeavesNoPack(t *testing.T) {
	eng := newFakeEngine()
	eng.saveErr = dockerapi.ErrImageSaveIncomplete
	spec := MustSpec(t, eng)
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || backup.FailedStep(err) != backup.StepImages {
		t.Fatalf("err = %v", err)
	}
	if got := MustEntries(t, spec.Target); len(got) != 0 {
		t.Fatalf("target holds %v", got)
	}
}

func TestRunCancelDuringVolumeStep(t *testing.T) {
	eng := newFakeEngine()
	eng.blockExport = true
	spec := MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec.Hooks.BeforeStep = func(_ context.Context, s backup.Step) error {
		if s == backup.StepVolumes {
			go cancel() // the export then blocks until canceled
		}
		return nil
	}
	_, err := backup.Run(ctx, spec, nil)
	if !errors.Is(err, context.Canceled) || backup.ErrorCode(err) != "canceled" {
		t.Fatalf("err = %v", err)
	}
	if got := MustEntries(t, spec.Target); len(got) != 0 {
		t.Fatalf("target holds %v after cancel", got)
	}
	if !eng.isRunning("c-app") {
		t.Fatal("the stopped service was not started again after cancel")
	}
}

func TestRunPrecheckRefusalsWriteNothing(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*backup.Spec, *fakeEngine)
		is     error
		code   string
	}{
		{"default policy refuses the root fs", func(s *backup.Spec, _ *fakeEngine) { s.Policy = mountcheck.Policy{} }, mountcheck.ErrNotMounted, "target_not_mounted"},
		{"unknown project", func(s *backup.Spec, _ *fakeEngine) { s.Project = "nope" }, dockerapi.ErrProjectNotFound, "project_not_found"},
		{"engine gone", func(_ *backup.Spec, f *fakeEngine) {
			f.infoErr = fmt.Errorf("%w: no answer from unix:///var/run/docker.sock", dockerapi.ErrEngineUnreachable)
		}, dockerapi.ErrEngineUnreachable, "engine_unreachable"},
		{"unknown service to stop", func(s *backup.Spec, _ *fakeEngine) { s.StopServices = []string{"db"} }, backup.ErrInvalidSpec, "invalid_spec"},
		{"missing database", func(s *backup.Spec, _ *fakeEngine) { s.SQLitePath = "/nonexistent/auth.db" }, backup.ErrPrecheck, "sqlite_not_found"},
		{"too little space", func(s *backup.Spec, _ *fakeEngine) {
			s.Hooks.AdjustEstimate = func(e backup.Estimate) backup.Estimate { e.Images = 1 << 60; return e }
		}, mountcheck.ErrInsufficientSpace, "insufficient_space"},
		{"nothing to back up", func(s *backup.Spec, f *fakeEngine) {
			s.SQLitePath = ""
			s.Components = []backup.Component{backup.ComponentVolumes}
			f.stack.Volumes = nil
		}, backup.ErrNothingToBackUp, "nothing_to_back_up"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := newFakeEngine()
			spec := MustSpec(t, eng)
			tc.mutate(&spec, eng)
			plan, err := backup.Run(context.Background(), spec, nil)
			if !errors.Is(err, tc.is) || !errors.Is(err, backup.ErrPrecheck) {
				t.Fatalf("err = %v, want %v and ErrPrecheck", err, tc.is)
			}
			if plan != nil {
				t.Fatal("a result on failure")
			}
			if code := backup.ErrorCode(err); code != tc.code {
				t.Fatalf("code %q, want %q (err %v)", code, tc.code, err)
			}
			if _, err := os.Stat(spec.Target); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the target was created by a refused backup: %v", err)
			}
		})
	}
}

func TestPlanEstimatesWithoutWriting(t *testing.T) {
	eng := newFakeEngine()
	spec := MustSpec(t, eng)
	p, err := backup.Plan(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.Estimate.Volumes != 500 || p.Estimate.Images != int64(len(eng.imageData)) || p.Estimate.DB <= 0 {
		t.Fatalf("estimate %+v", p.Estimate)
	}
	if p.Required < uint64(p.Estimate.Total()) {
		t.Fatalf("required %d < total %d", p.Required, p.Estimate.Total())
	}
	if _, err := os.Stat(spec.Target); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Plan created the target")
	}
}

func TestSpecValidate(t *testing.T) {
	cases := []struct {
		name string
		spec backup.Spec
		want string
	}{
		{"no engine", backup.Spec{Project: "p", Target: "/t"}, "no Docker Engine"},
		{"no project", backup.Spec{Engine: newFakeEngine(), Target: "/t"}, "no compose project"},
		{"no target", backup.Spec{Engine: newFakeEngine(), Project: "p"}, "no target"},
		{"db without path", backup.Spec{Engine: newFakeEngine(), Project: "p", Target: "/t", Components: []backup.Component{backup.ComponentDB}}, "--sqlite"},
		{"empty selection", backup.Spec{Engine: newFakeEngine(), Project: "p", Target: "/t", Components: []backup.Component{}}, "no component"},
		{"stop without volumes", backup.Spec{Engine: newFakeEngine(), Project: "p", Target: "/t", Components: []backup.Component{backup.ComponentImages}, StopServices: []string{"a"}}, "stopped for nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backup.Run(context.Background(), tc.spec, nil)
			if !errors.Is(err, backup.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidSpec mentioning %q", err, tc.want)
			}
		})
	}
}
