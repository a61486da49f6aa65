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
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/mountcheck"
)

func TestRunWritesCompletePack(t *testing.T) {
	eng := backuptest.NewEngine()
	spec := backuptest.MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	var pl backuptest.ProgressLog
	res, err := backup.Run(context.Background(), spec, pl.Func)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := regexp.MatchString(`^migration_pack_\d{8}_\d{6}_\d{3}$`, res.Name); !ok {
		t.Fatalf("pack name %q", res.Name)
	}
	if got := backuptest.MustEntries(t, spec.Target); len(got) != 1 || got[0] != res.Name {
		t.Fatalf("target holds %v, want only %s", got, res.Name)
	}
	m, hash, err := pack.ReadManifest(context.Background(), res.Pack)
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
	if len(m.Images) != 2 || m.Images[1].ConfigDigest != eng.Stack.Images[1].ID || len(m.Images[1].RepoTags) != 0 {
		t.Fatalf("images %+v", m.Images)
	}
	if !m.Volumes[1].External || m.Volumes[0].Labels["com.docker.compose.project"] != "demo" {
		t.Fatalf("volumes %+v", m.Volumes)
	}
	if len(m.Skipped) != 1 || m.Skipped[0].Kind != "bind" {
		t.Fatalf("skipped %+v", m.Skipped)
	}
	// The untagged image is saved by ID, the tagged one by tag, in one call.
	if saved := eng.Saved(); len(saved) != 1 || strings.Join(saved[0], " ") != "demo/app:1 "+eng.Stack.Images[1].ID {
		t.Fatalf("SaveImages calls %v", saved)
	}
	if stops, starts := eng.StopStartCalls(); !eng.IsRunning("c-app") || stops != 1 || starts != 1 {
		t.Fatalf("app running=%v stops=%d starts=%d", eng.IsRunning("c-app"), stops, starts)
	}
	sumCmd := exec.Command("sha256sum", "-c", "--quiet", "SHA256SUMS")
	sumCmd.Dir = res.Pack
	if out, err := sumCmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c in the pack: %v\n%s", err, out)
	}
	// Progress: monotonic, steps in order, ends at 100.
	last, order := -1, []progress.Step{}
	for _, p := range pl.All() {
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
	eng := backuptest.NewEngine()
	eng.ExportErr["shared"] = dockerapi.ErrVolumeExportIncomplete
	spec := backuptest.MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, dockerapi.ErrVolumeExportIncomplete) {
		t.Fatalf("err = %v", err)
	}
	if backup.FailedStep(err) != progress.StepVolumes || !strings.Contains(err.Error(), "shared") {
		t.Fatalf("error does not name the step and volume: %v", err)
	}
	if backup.ErrorCode(err) != "volume_export_incomplete" {
		t.Fatalf("code %s", backup.ErrorCode(err))
	}
	if got := backuptest.MustEntries(t, spec.Target); len(got) != 0 {
		t.Fatalf("target holds %v after a failure", got)
	}
	if !eng.IsRunning("c-app") {
		t.Fatal("the stopped service was not started again")
	}
}

func TestRunImageSaveFailureLeavesNoPack(t *testing.T) {
	eng := backuptest.NewEngine()
	eng.SaveErr = dockerapi.ErrImageSaveIncomplete
	spec := backuptest.MustSpec(t, eng)
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, dockerapi.ErrImageSaveIncomplete) || backup.FailedStep(err) != progress.StepImages {
		t.Fatalf("err = %v", err)
	}
	if got := backuptest.MustEntries(t, spec.Target); len(got) != 0 {
		t.Fatalf("target holds %v", got)
	}
}

func TestRunCancelDuringVolumeStep(t *testing.T) {
	eng := backuptest.NewEngine()
	eng.BlockExport = true
	spec := backuptest.MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec.Hooks.BeforeStep = func(_ context.Context, s progress.Step) error {
		if s == progress.StepVolumes {
			go cancel() // the export then blocks until canceled
		}
		return nil
	}
	_, err := backup.Run(ctx, spec, nil)
	if !errors.Is(err, context.Canceled) || backup.ErrorCode(err) != "canceled" {
		t.Fatalf("err = %v", err)
	}
	if got := backuptest.MustEntries(t, spec.Target); len(got) != 0 {
		t.Fatalf("target holds %v after cancel", got)
	}
	if !eng.IsRunning("c-app") {
		t.Fatal("the stopped service was not started again after cancel")
	}
}

func TestRunPrecheckRefusalsWriteNothing(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*backup.Spec, *backuptest.Engine)
		is     error
		code   string
	}{
		{"default policy refuses the root fs", func(s *backup.Spec, _ *backuptest.Engine) { s.Policy = mountcheck.Policy{} }, mountcheck.ErrNotMounted, "target_not_mounted"},
		{"unknown project", func(s *backup.Spec, _ *backuptest.Engine) { s.Project = "nope" }, dockerapi.ErrProjectNotFound, "project_not_found"},
		{"engine gone", func(_ *backup.Spec, f *backuptest.Engine) {
			f.InfoErr = fmt.Errorf("%w: no answer from unix:///var/run/docker.sock", dockerapi.ErrEngineUnreachable)
		}, dockerapi.ErrEngineUnreachable, "engine_unreachable"},
		{"unknown service to stop", func(s *backup.Spec, _ *backuptest.Engine) { s.StopServices = []string{"db"} }, backup.ErrInvalidSpec, "invalid_spec"},
		{"missing database", func(s *backup.Spec, _ *backuptest.Engine) { s.SQLitePath = "/nonexistent/auth.db" }, backup.ErrPrecheck, "sqlite_not_found"},
		{"too little space", func(s *backup.Spec, _ *backuptest.Engine) {
			s.Hooks.AdjustEstimate = func(e backup.Estimate) backup.Estimate { e.Images = 1 << 60; return e }
		}, mountcheck.ErrInsufficientSpace, "insufficient_space"},
		{"nothing to back up", func(s *backup.Spec, f *backuptest.Engine) {
			s.SQLitePath = ""
			s.Components = []pack.Component{pack.ComponentVolumes}
			f.Stack.Volumes = nil
		}, backup.ErrNothingToBackUp, "nothing_to_back_up"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := backuptest.NewEngine()
			spec := backuptest.MustSpec(t, eng)
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
	eng := backuptest.NewEngine()
	spec := backuptest.MustSpec(t, eng)
	p, err := backup.Plan(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.Estimate.Volumes != 500 || p.Estimate.Images != int64(len(eng.ImageData)) || p.Estimate.DB <= 0 {
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
		{"no project", backup.Spec{Engine: backuptest.NewEngine(), Target: "/t"}, "no compose project"},
		{"no target", backup.Spec{Engine: backuptest.NewEngine(), Project: "p"}, "no target"},
		{"db without path", backup.Spec{Engine: backuptest.NewEngine(), Project: "p", Target: "/t", Components: []pack.Component{pack.ComponentDB}}, "--sqlite"},
		{"empty selection", backup.Spec{Engine: backuptest.NewEngine(), Project: "p", Target: "/t", Components: []pack.Component{}}, "no component"},
		{"stop without volumes", backup.Spec{Engine: backuptest.NewEngine(), Project: "p", Target: "/t", Components: []pack.Component{pack.ComponentImages}, StopServices: []string{"a"}}, "stopped for nothing"},
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

func TestRunPackModes(t *testing.T) {
	for _, c := range []struct {
		mode      os.FileMode // Spec.PackMode; 0: the default
		file, dir os.FileMode
	}{
		{0, 0o600, 0o700},
		{0o640, 0o640, 0o750},
		{0o644, 0o644, 0o755},
	} {
		spec := backuptest.MustSpec(t, backuptest.NewEngine())
		spec.PackMode = c.mode
		res, err := backup.Run(context.Background(), spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = filepath.WalkDir(res.Pack, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := c.file
			if d.IsDir() {
				want = c.dir
			}
			if fi.Mode().Perm() != want {
				t.Errorf("pack mode %04o: %s has %04o, want %04o", c.mode, p, fi.Mode().Perm(), want)
			}
			n++
			return nil
		})
		if err != nil || n < 5 {
			t.Fatalf("pack mode %04o: walked %d entries: %v", c.mode, n, err)
		}
	}
	spec := backuptest.MustSpec(t, backuptest.NewEngine())
	spec.PackMode = 0o666
	if _, err := backup.Run(context.Background(), spec, nil); !errors.Is(err, backup.ErrInvalidSpec) || !strings.Contains(err.Error(), "0600 (default), 0640 or 0644") {
		t.Errorf("pack mode 0666: %v", err)
	}
}
