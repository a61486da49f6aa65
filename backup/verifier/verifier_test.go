package verifier_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/verifier"
	"github.com/dockpack/dockpack/internal/i18n"
)

// mustVerifyEnd follows a verification to its end and returns every state
// it saw (the last one ended).
func mustVerifyEnd(t *testing.T, vf *verifier.Verifier, id string) []verifier.Verification {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch, err := vf.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var seen []verifier.Verification
	for v := range ch {
		seen = append(seen, v)
	}
	if len(seen) == 0 || seen[len(seen)-1].Status.Active() {
		t.Fatalf("verification %s: the watch ended before the verification (%d states)", id, len(seen))
	}
	return seen
}

// mustVerifyPack writes a test pack and a Manager whose target holds it,
// with its Verifier.
func mustVerifyPack(t *testing.T, cfg jobs.Config) (*jobs.Manager, *verifier.Verifier, *backuptest.Pack) {
	t.Helper()
	if cfg.Settings.TargetLocalDir == "" {
		cfg.Settings = backuptest.Settings(t)
	}
	p := backuptest.MustPack(t, cfg.Settings.TargetLocalDir, time.Now().Add(-time.Hour))
	m := backuptest.MustManager(t, cfg)
	return m, verifier.New(m), p
}

func TestVerifyPassesWithRisingProgress(t *testing.T) {
	m, vf, p := mustVerifyPack(t, jobs.Config{})
	v, err := vf.Start(context.Background(), verifier.Request{Pack: filepath.Base(p.Dir)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != jobs.StatusRunning || v.Pack != filepath.Base(p.Dir) || v.Path != p.Dir || v.ID == "" {
		t.Fatalf("started %+v", v)
	}
	seen := mustVerifyEnd(t, vf, v.ID)
	end := seen[len(seen)-1]
	if end.Status != jobs.StatusCompleted || end.OK == nil || !*end.OK || end.Progress != 100 || end.ErrorCode != nil ||
		end.Result == nil || !end.Result.OK || end.FinishedAt == nil || end.BytesDone < p.Manifest.PackSize() || end.BytesTotal < end.BytesDone {
		t.Fatalf("ended %+v (bytes %d, pack %d)", end, end.BytesDone, p.Manifest.PackSize())
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Progress < seen[i-1].Progress || seen[i].BytesDone < seen[i-1].BytesDone {
			t.Fatalf("progress went back: %d%% %dB after %d%% %dB", seen[i].Progress, seen[i].BytesDone, seen[i-1].Progress, seen[i-1].BytesDone)
		}
	}
	if len(end.Log) < 2 || end.Log[0].Message != i18n.T(i18n.English, "verifyjob.started", v.Pack) {
		t.Errorf("log %+v", end.Log)
	}
	list, err := vf.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != v.ID || list[0].Log != nil || list[0].Result.Manifest != nil {
		t.Fatalf("Verifications: %v %+v", err, list)
	}
	mustLockFree(t, m)
	if got, err := vf.Get(context.Background(), v.ID); err != nil || got.Status != jobs.StatusCompleted {
		t.Fatalf("Verification: %v %+v", err, got)
	}
}

func TestVerifyFailsOnAFlippedByte(t *testing.T) {
	_, vf, p := mustVerifyPack(t, jobs.Config{Lang: i18n.Chinese})
	backuptest.MustFlip(t, p.Path("volumes/shared.tar"), 600)
	v, err := vf.Start(context.Background(), verifier.Request{Pack: filepath.Base(p.Dir)})
	if err != nil {
		t.Fatal(err)
	}
	end := mustVerifyEnd(t, vf, v.ID)
	e := end[len(end)-1]
	if e.Status != jobs.StatusFailed || e.OK == nil || *e.OK || e.ErrorCode == nil || *e.ErrorCode != verifier.CodeFailed || e.Result == nil {
		t.Fatalf("ended %+v", e)
	}
	failed := e.Result.Failed()
	if len(failed) != 1 || failed[0].Path != "volumes/shared.tar" || failed[0].Code != pack.CodeSHA256Mismatch {
		t.Fatalf("failed checks %+v", failed)
	}
	if e.Lang != i18n.Chinese || e.Message != i18n.T(i18n.Chinese, "verifyjob.failed", v.Pack, 1) {
		t.Errorf("message %q in %s", e.Message, e.Lang)
	}
}

func TestVerifyRefusesUnknownAndMalformedPacks(t *testing.T) {
	_, vf, _ := mustVerifyPack(t, jobs.Config{})
	ctx := context.Background()
	for name, want := range map[string]error{
		pack.NamePrefix + "20000101_000000_000": jobs.ErrPackNotFound,
		"../" + pack.NamePrefix + "x":           backup.ErrInvalidSpec,
		"etc":                                   backup.ErrInvalidSpec,
		"":                                      backup.ErrInvalidSpec,
		pack.PartialPrefix + "20000101_000000_000":        backup.ErrInvalidSpec,
		pack.NamePrefix + "20000101_000000_000/../../etc": backup.ErrInvalidSpec,
	} {
		if _, err := vf.Start(ctx, verifier.Request{Pack: name}); !errors.Is(err, want) {
			t.Errorf("StartVerify(%q): %v, want %v", name, err, want)
		}
		if _, err := vf.RestorePlan(ctx, verifier.PlanRequest{Pack: name}); !errors.Is(err, want) {
			t.Errorf("RestorePlan(%q): %v, want %v", name, err, want)
		}
	}
	if _, err := vf.Get(ctx, "verify_nope"); !errors.Is(err, verifier.ErrNotFound) {
		t.Errorf("Verification: %v", err)
	}
	if _, err := vf.Start(ctx, verifier.Request{Pack: "x", Lang: "fr"}); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Errorf("lang fr: %v", err)
	}
}

// A verification holds the backup lock: a backup cannot start beside it,
// and it cannot start beside a backup; cancel frees the lock.
func TestVerifyHoldsTheLockAndCancels(t *testing.T) {
	entered := make(chan struct{}, 1)
	hooks := backup.Hooks{BeforeStep: func(ctx context.Context, step progress.Step) error {
		if step != progress.StepVerify {
			return nil
		}
		entered <- struct{}{}
		<-ctx.Done()
		return context.Cause(ctx)
	}}
	run := newBlockingRun()
	m, vf, p := mustVerifyPack(t, jobs.Config{Hooks: hooks, Run: run.Run})
	ctx := context.Background()
	v, err := vf.Start(ctx, verifier.Request{Pack: filepath.Base(p.Dir)})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	var busy *jobs.BusyError
	if _, err := m.Start(ctx, jobs.Request{}); !errors.As(err, &busy) {
		t.Fatalf("Start beside a verification: %v, want a BusyError", err)
	}
	if _, err := vf.Start(ctx, verifier.Request{Pack: filepath.Base(p.Dir)}); !errors.As(err, &busy) {
		t.Fatalf("a second verification: %v, want a BusyError", err)
	}
	c, err := vf.Cancel(ctx, v.ID, "operator changed their mind")
	if err != nil || (c.Status != jobs.StatusCanceling && c.Status != jobs.StatusCanceled) {
		t.Fatalf("CancelVerify: %v %+v", err, c)
	}
	end := mustVerifyEnd(t, vf, v.ID)
	e := end[len(end)-1]
	if e.Status != jobs.StatusCanceled || e.OK != nil || e.ErrorCode == nil || *e.ErrorCode != verifier.CodeCanceled {
		t.Fatalf("ended %+v", e)
	}
	if again, err := vf.Cancel(ctx, v.ID, ""); err != nil || again.Status != jobs.StatusCanceled {
		t.Fatalf("cancel of an ended verification: %v %+v", err, again)
	}
	mustLockFree(t, m)

	j, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	<-run.started
	if _, err := vf.Start(ctx, verifier.Request{Pack: filepath.Base(p.Dir)}); !errors.As(err, &busy) || busy.JobID != j.ID {
		t.Fatalf("StartVerify beside backup %d: %v", j.ID, err)
	}
	if _, err := m.Cancel(ctx, j.ID, "test"); err != nil {
		t.Fatal(err)
	}
	mustJobEnded(t, m, j.ID)
}

// Close cancels a running verification and waits for it.
func TestVerifyCanceledByClose(t *testing.T) {
	entered := make(chan struct{}, 1)
	hooks := backup.Hooks{BeforeStep: func(ctx context.Context, step progress.Step) error {
		entered <- struct{}{}
		<-ctx.Done()
		return context.Cause(ctx)
	}}
	m, vf, p := mustVerifyPack(t, jobs.Config{Hooks: hooks})
	v, err := vf.Start(context.Background(), verifier.Request{Pack: filepath.Base(p.Dir)})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := vf.Get(context.Background(), v.ID)
	if err != nil || got.Status != jobs.StatusCanceled {
		t.Fatalf("after Close: %v %+v", err, got)
	}
	if _, err := vf.Start(context.Background(), verifier.Request{Pack: filepath.Base(p.Dir)}); !errors.Is(err, jobs.ErrClosed) {
		t.Fatalf("StartVerify after Close: %v", err)
	}
}

func TestRestorePlanAgainstTheEngine(t *testing.T) {
	eng := backuptest.NewRunningEngine()
	_, vf, p := mustVerifyPack(t, jobs.Config{Engine: eng, Lang: i18n.Chinese})
	res, err := vf.RestorePlan(context.Background(), verifier.PlanRequest{Pack: filepath.Base(p.Dir), Project: "demo2"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Planned || res.Plan == nil || res.Plan.Project != "demo2" || res.PackageHash != p.Hash || len(res.Plan.Volumes) != 2 {
		t.Fatalf("plan %+v", res.Plan)
	}
	if i := slices.IndexFunc(res.Plan.Volumes, func(v restore.VolumePlan) bool { return v.Name == "demo_data" }); i < 0 ||
		res.Plan.Volumes[i].Target != "demo2_data" || res.Plan.Volumes[i].Action != restore.ActionCreate {
		t.Fatalf("volumes %+v", res.Plan.Volumes)
	}
	if slices.Contains(res.Plan.Components, pack.ComponentDB) {
		t.Errorf("the database is planned without a destination: %v", res.Plan.Components)
	}
	if eng.Loads() != 0 || len(eng.Imported()) != 0 {
		t.Errorf("a plan changed the engine: %d loads, %v imported", eng.Loads(), eng.Imported())
	}
	if _, err := vf.RestorePlan(context.Background(), verifier.PlanRequest{Pack: filepath.Base(p.Dir), Project: "Bad Name"}); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Errorf("bad project: %v", err)
	}
}

// blockingRun is a backup that runs until it is canceled.
type blockingRun struct{ started chan struct{} }

func newBlockingRun() *blockingRun { return &blockingRun{started: make(chan struct{}, 8)} }

func (b *blockingRun) Run(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
	b.started <- struct{}{}
	<-ctx.Done()
	return nil, &backup.StepError{Step: progress.StepVolumes, Err: context.Cause(ctx)}
}

// mustLockFree waits until the lease lock is released.
func mustLockFree(t *testing.T, m *jobs.Manager) {
	t.Helper()
	backuptest.Wait(t, 20*time.Second, "the lock to be released", func() bool {
		li, err := m.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return !li.Held
	})
}

// mustJobEnded waits for a job to leave the active states.
func mustJobEnded(t *testing.T, m *jobs.Manager, id int64) {
	t.Helper()
	backuptest.Wait(t, 20*time.Second, "the job to end", func() bool {
		j, err := m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return !j.Status.Active()
	})
}
