package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/drill"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
)

// rsPackRun is a Manager Run that writes a real (test) pack into the target.
func rsPackRun(t *testing.T) func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
	return func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		if spec.Hooks.BeforeStep != nil {
			if err := spec.Hooks.BeforeStep(ctx, progress.StepPrecheck); err != nil {
				return nil, err
			}
		}
		pk := backuptest.MustPack(t, spec.Target, time.Now())
		p(progress.Report{Step: progress.StepFinalize, Percent: 100, Message: "done", Time: time.Now()})
		return &backup.Result{Pack: pk.Dir, Name: filepath.Base(pk.Dir), PackageHash: pk.Hash, Manifest: pk.Manifest, Bytes: pk.Manifest.PackSize()}, nil
	}
}

// MustRsDrillJob starts a backup job that writes a test pack and waits for it.
func MustRsDrillJob(t *testing.T, m *jobs.Manager) jobs.Job {
	t.Helper()
	j, err := m.Start(context.Background(), jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	j = MustJobEnded(t, m, j.ID)
	if j.Status != jobs.StatusCompleted || j.OutputDir == nil || j.PackageHash == nil {
		t.Fatalf("job %+v", j)
	}
	MustLockFree(t, m) // the job's lease goes a moment after its final state
	return j
}

func rsDrillReq(j jobs.Job) drill.Request {
	return drill.Request{JobID: j.ID, BackupPath: *j.OutputDir, BackupHash: *j.PackageHash, RestoreTarget: "staging"}
}

func TestDrillPassesAndMarksTheJob(t *testing.T) {
	state := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{StateDir: state, Run: rsPackRun(t)})
	j := MustRsDrillJob(t, m)
	notes := "quarterly drill"
	req := rsDrillReq(j)
	req.VerificationNotes, req.ExecutedBy = &notes, "alice"
	d, err := m.RunDrill(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.DrillID, "restore_drill_") || d.AcceptanceStatus != drill.Passed || d.Result != "success" ||
		!d.HashMatch || !d.CompareMatch || d.PackageValidationStatus != drill.Passed || d.ExecutedBy != "alice" ||
		d.Reason != "manual_restore_drill" || d.VerificationNotes == nil || *d.VerificationNotes != notes {
		t.Fatalf("drill %+v", d)
	}
	if d.RestoredAuthDBPath == nil || !strings.HasPrefix(*d.RestoredAuthDBPath, filepath.Join(state, "restore-drills", "staging", d.DrillID)) ||
		!backuptest.Exists(*d.RestoredAuthDBPath) || d.RestoredAuthDBHash == nil {
		t.Fatalf("restored db %v", d.RestoredAuthDBPath)
	}
	names := map[string]check.Status{}
	for _, c := range d.VerificationReport.Checks {
		names[c.Name] = c.Status
	}
	for _, n := range []string{"manifest", "sha256sums", "sqlite", "volume:demo_data", "images", "package_hash", "restore_sqlite"} {
		if names[n] != check.OK {
			t.Errorf("check %s: %q (all %+v)", n, names[n], d.VerificationReport.Checks)
		}
	}
	got, err := m.Get(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.VerificationStatus != jobs.VerificationPassed || got.VerifiedAtMs == nil || sv(got.LastRestoreDrillID) != d.DrillID || sv(got.VerifiedBy) != "alice" {
		t.Fatalf("job after the drill: %+v", got)
	}
	MustLockFree(t, m)

	// A second drill: listed first; the first one's restored database is removed.
	d2, err := m.RunDrill(context.Background(), rsDrillReq(j))
	if err != nil || d2.ExecutedBy != "api" {
		t.Fatalf("second drill: %+v %v", d2, err)
	}
	if backuptest.Exists(*d.RestoredAuthDBPath) {
		t.Error("the earlier drill's restored database was kept")
	}
	list, err := m.ListDrills(context.Background(), 30)
	if err != nil || len(list) != 2 || list[0].DrillID != d2.DrillID || list[1].DrillID != d.DrillID {
		t.Fatalf("list %+v %v", list, err)
	}
	if one, err := m.ListDrills(context.Background(), 1); err != nil || len(one) != 1 {
		t.Fatalf("limit 1: %d %v", len(one), err)
	}
	if g, err := m.GetDrill(context.Background(), d.DrillID); err != nil || g.JobID != j.ID {
		t.Fatalf("GetDrill: %+v %v", g, err)
	}
	if _, err := m.GetDrill(context.Background(), "restore_drill_nope"); !errors.Is(err, jobs.ErrDrillNotFound) {
		t.Fatalf("GetDrill unknown: %v", err)
	}
}

func TestDrillRejectsRequests(t *testing.T) {
	m := backuptest.MustManager(t, jobs.Config{Run: rsPackRun(t)})
	j := MustRsDrillJob(t, m)
	cases := map[string]struct {
		edit func(r *drill.Request)
		code string
		is   error
	}{
		"wrong hash":    {func(r *drill.Request) { r.BackupHash = strings.Repeat("0", 64) }, "backup_hash_mismatch", backup.ErrInvalidSpec},
		"wrong path":    {func(r *drill.Request) { r.BackupPath = "/tmp/elsewhere" }, "backup_path_mismatch", backup.ErrInvalidSpec},
		"unknown job":   {func(r *drill.Request) { r.JobID = 999 }, "job_not_found", jobs.ErrJobNotFound},
		"no job id":     {func(r *drill.Request) { r.JobID = 0 }, "invalid_job_id", backup.ErrInvalidSpec},
		"no path":       {func(r *drill.Request) { r.BackupPath = " " }, "backup_path_required", backup.ErrInvalidSpec},
		"no hash":       {func(r *drill.Request) { r.BackupHash = "" }, "backup_hash_required", backup.ErrInvalidSpec},
		"no target":     {func(r *drill.Request) { r.RestoreTarget = "" }, "restore_target_required", backup.ErrInvalidSpec},
		"target is ../": {func(r *drill.Request) { r.RestoreTarget = "../" }, "invalid_restore_target", backup.ErrInvalidSpec},
	}
	for name, tc := range cases {
		req := rsDrillReq(j)
		tc.edit(&req)
		_, err := m.RunDrill(context.Background(), req)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.code) {
			t.Errorf("%s: err = %v, want %v with %s", name, err, tc.is, tc.code)
		}
	}
	if list, _ := m.ListDrills(context.Background(), 0); len(list) != 0 {
		t.Fatalf("rejected drills were recorded: %+v", list)
	}
}

func TestDrillOnTamperedPack(t *testing.T) {
	m := backuptest.MustManager(t, jobs.Config{Run: rsPackRun(t)})
	j := MustRsDrillJob(t, m)
	backuptest.MustFlip(t, filepath.Join(*j.OutputDir, "volumes", "demo_data.tar"), 3000)
	d, err := m.RunDrill(context.Background(), rsDrillReq(j))
	if err != nil {
		t.Fatal(err)
	}
	if d.AcceptanceStatus != drill.Failed || d.Result != "failed" || d.PackageValidationStatus != drill.Failed || !d.HashMatch {
		t.Fatalf("drill %+v", d)
	}
	if len(d.VerificationReport.Failed) != 1 || !strings.Contains(d.VerificationReport.Failed[0], "volumes/demo_data.tar: expected sha256 ") {
		t.Fatalf("failed %v", d.VerificationReport.Failed)
	}
	got, _ := m.Get(context.Background(), j.ID)
	if got.VerificationStatus != jobs.VerificationFailed || got.VerifiedAtMs != nil || !strings.Contains(sv(got.VerificationDetail), "volumes/demo_data.tar") {
		t.Fatalf("job %+v", got)
	}
	// The pack gone (unmounted share): blocked.
	os.RemoveAll(*j.OutputDir)
	d, err = m.RunDrill(context.Background(), rsDrillReq(j))
	if err != nil || d.AcceptanceStatus != drill.Blocked || d.PackageValidationStatus != drill.Blocked {
		t.Fatalf("drill of a missing pack: %+v %v", d, err)
	}
}

func TestDrillHoldsTheBackupLock(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	m := backuptest.MustManager(t, jobs.Config{Run: rsPackRun(t), Hooks: backup.Hooks{BeforeStep: func(ctx context.Context, s progress.Step) error {
		if s == progress.StepVerify {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return nil
	}}})
	j := MustRsDrillJob(t, m)
	done := make(chan error, 1)
	go func() {
		_, err := m.RunDrill(context.Background(), rsDrillReq(j))
		done <- err
	}()
	<-entered
	_, err := m.Start(context.Background(), jobs.Request{})
	var be *jobs.BusyError
	if !errors.As(err, &be) || be.JobID != j.ID {
		t.Fatalf("Start during a drill: %v", err)
	}
	if _, err := m.RunDrill(context.Background(), rsDrillReq(j)); !errors.Is(err, jobs.ErrBusy) {
		t.Fatalf("a second drill during a drill: %v", err)
	}
	// The lease is renewed while the drill runs (lease 3s in tests).
	time.Sleep(10 * time.Millisecond)
	if li, err := m.Lock(context.Background()); err != nil || !li.Held || li.JobID != j.ID {
		t.Fatalf("lock %+v %v", li, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	MustLockFree(t, m)
	if _, err := m.Start(context.Background(), jobs.Request{}); err != nil {
		t.Fatalf("Start after the drill: %v", err)
	}
}

func TestDrillWaitsForNoBackup(t *testing.T) {
	b := newBlockingRun()
	m := backuptest.MustManager(t, jobs.Config{Run: b.Run})
	j, err := m.Start(context.Background(), jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	b.waitStarted(t)
	out := "/x"
	hash := strings.Repeat("a", 64)
	_, err = m.RunDrill(context.Background(), drill.Request{JobID: j.ID, BackupPath: out, BackupHash: hash, RestoreTarget: "staging"})
	// The running job has no pack yet: refused before the lock is even asked.
	if !errors.Is(err, backup.ErrInvalidSpec) || !strings.Contains(err.Error(), "job_has_no_pack") {
		t.Fatalf("err = %v", err)
	}
	close(b.release)
	MustJobEnded(t, m, j.ID)
}

func TestDrillCanceledByClose(t *testing.T) {
	entered := make(chan struct{})
	cfg := jobs.Config{Run: rsPackRun(t), Hooks: backup.Hooks{BeforeStep: func(ctx context.Context, s progress.Step) error {
		if s == progress.StepVerify {
			close(entered)
			<-ctx.Done()
			return context.Cause(ctx)
		}
		return nil
	}}}
	cfg.StateDir = t.TempDir()
	cfg.DisableScheduler = true
	cfg.Engine = backuptest.NewRunningEngine()
	cfg.Settings = backuptest.Settings(t)
	cfg.Policy = backuptest.Relaxed
	cfg.LeaseDuration = 3 * time.Second
	m, err := jobs.NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	j := MustRsDrillJob(t, m)
	done := make(chan error, 1)
	go func() {
		_, err := m.RunDrill(context.Background(), rsDrillReq(j))
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("drill during Close: %v", err)
	}
	if _, err := m.RunDrill(context.Background(), rsDrillReq(j)); !errors.Is(err, jobs.ErrClosed) {
		t.Fatalf("drill after Close: %v", err)
	}
}

func TestSanitizeRestoreTarget(t *testing.T) {
	for in, want := range map[string]string{
		"staging":               "staging",
		" drill-2025 ":          "drill-2025",
		"../../etc/x":           "_.._etc_x",
		"a/b\\c":                "a_b_c",
		"..hidden":              "hidden",
		"演练":                    "演练", // any script (RagFlowAuth's 演练目标标识 is free text)
		"演练 环境":                 "演练_环境",
		"x.y_z-1":               "x.y_z-1",
		"/":                     "",
		"..":                    "",
		strings.Repeat("a", 80): strings.Repeat("a", 64),
	} {
		got, err := drill.SanitizeRestoreTarget(in)
		if want == "" || want == "__" {
			if err == nil {
				t.Errorf("%q: %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
}

func FuzzSanitizeRestoreTarget(f *testing.F) {
	for _, s := range []string{"staging", "../..", "a/b", "\x00", ".", "演练/../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := drill.SanitizeRestoreTarget(s)
		if err != nil {
			if !errors.Is(err, backup.ErrInvalidSpec) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if got == "" || len(got) > 64 || strings.ContainsAny(got, "/\\\x00") || strings.HasPrefix(got, ".") || filepath.Base(got) != got {
			t.Fatalf("%q → %q escapes its folder", s, got)
		}
	})
}

// A drill's restore_target becomes one safe folder name.
func ExampleSanitizeRestoreTarget() {
	for _, s := range []string{"staging", "../../etc", "drill 2026/Q1", "演练环境"} {
		name, err := drill.SanitizeRestoreTarget(s)
		fmt.Println(name, err)
	}
	// Output:
	// staging <nil>
	// _.._etc <nil>
	// drill_2026_Q1 <nil>
	// 演练环境 <nil>
}
