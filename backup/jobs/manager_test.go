package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/dockerapi"
)

func TestManagerConfigValidate(t *testing.T) {
	good := jobs.Config{StateDir: t.TempDir(), Engine: backuptest.NewRunningEngine(), Settings: settings.Default()}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := map[string]func(c *jobs.Config){
		"no state dir":        func(c *jobs.Config) { c.StateDir = "" },
		"no engine":           func(c *jobs.Config) { c.Engine = nil },
		"negative stall":      func(c *jobs.Config) { c.StallTimeout = -1 },
		"tiny lease":          func(c *jobs.Config) { c.LeaseDuration = time.Millisecond },
		"unknown pinned":      func(c *jobs.Config) { c.Pinned = []string{"local_backup_pack_count"} },
		"bad retention":       func(c *jobs.Config) { c.Settings.BackupRetentionMax = 1000 },
		"bad schedule":        func(c *jobs.Config) { c.Settings.IncrementalSchedule = new("every day") },
		"relative target":     func(c *jobs.Config) { c.Settings.TargetLocalDir = "backups" },
		"negative first-byte": func(c *jobs.Config) { c.ImagesFirstByteRate = -1 },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			mutate(&c)
			if err := c.Validate(); !errors.Is(err, backup.ErrInvalidSpec) {
				t.Fatalf("Validate = %v, want ErrInvalidSpec", err)
			}
			if _, err := jobs.NewManager(context.Background(), c); err == nil {
				t.Fatal("NewManager accepted it")
			}
		})
	}
}

func TestManagerRecoveryAtStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	set := backuptest.Settings(t)
	engA := backuptest.NewRunningEngine()
	// Process A: records a partial dir and two stopped containers, then "dies"
	// (its backup never cleans up, as after a kill).
	var partial string
	crashRun := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		p(progress.Report{Step: progress.StepPrecheck, Message: "checking"})
		partial = filepath.Join(spec.Target, pack.PartialPrefix+"20250101_000000_000")
		if err := spec.Hooks.BeforePartial(ctx, partial); err != nil { // intent before action
			return nil, err
		}
		if err := os.Mkdir(partial, 0o755); err != nil {
			return nil, err
		}
		cs := engA.Stack.Containers
		if err := spec.Hooks.BeforeStop(ctx, cs); err != nil {
			return nil, err
		}
		engA.SetRunning("c-app", false)
		engA.SetRunning("c-worker", false)
		p(progress.Report{Step: progress.StepVolumes, Item: "demo_data", BytesDone: 1, Message: "exporting"})
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}
	a := backuptest.MustManager(t, jobs.Config{StateDir: dir, Settings: set, Engine: engA, Run: crashRun, Host: "h", PID: 4242,
		ProcStart: "boot/ns/1", LeaseDuration: time.Hour})
	ja, err := a.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	MustJobWhere(t, a, ja.ID, 10*time.Second, "volumes step", func(j jobs.Job) bool { return sv(j.Step) == "volumes" })

	// Process B starts on the same host; A's pid is gone.
	engB := backuptest.NewRunningEngine()
	engB.SetRunning("c-app", false)
	engB.SetRunning("c-worker", false)
	var ended []jobs.Job
	var mu sync.Mutex
	b := backuptest.MustManager(t, jobs.Config{StateDir: dir, Settings: set, Engine: engB, Run: quickRun, Host: "h", PID: 5000,
		ProcAlive: func(pid int, _ string) bool { return pid != 4242 },
		OnJobEnd:  func(j jobs.Job) { mu.Lock(); ended = append(ended, j); mu.Unlock() }})

	got, err := b.Get(ctx, ja.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.StatusFailed || sv(got.ErrorCode) != "interrupted" || got.FinishedAtMs == nil {
		t.Fatalf("job left by the dead process: %+v", got)
	}
	if backuptest.Exists(partial) {
		t.Fatalf("partial dir %s not removed", partial)
	}
	if s := engB.Started(); !slices.Equal(slices.Sorted(slices.Values(s)), []string{"c-app", "c-worker"}) {
		t.Fatalf("containers started by recovery: %v", s)
	}
	if !engB.IsRunning("c-app") || !engB.IsRunning("c-worker") {
		t.Fatal("stopped containers not running after recovery")
	}
	li, _ := b.Lock(ctx)
	if li.Held {
		t.Fatalf("the dead owner's lock survived recovery: %+v", li)
	}
	log, err := b.JobLog(ctx, ja.ID)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, l := range log {
		text = append(text, l.Message)
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{"recovery:", "removed partial pack", "started container demo_app_1 again"} {
		if !strings.Contains(all, want) {
			t.Errorf("job log lacks %q:\n%s", want, all)
		}
	}
	backuptest.Wait(t, 5*time.Second, "OnJobEnd", func() bool { mu.Lock(); defer mu.Unlock(); return len(ended) > 0 })
	mu.Lock()
	if len(ended) != 1 || ended[0].ID != ja.ID {
		t.Errorf("OnJobEnd of the recovering process: %v", ended)
	}
	mu.Unlock()
	// The recorded containers are marked restarted: a second recovery starts nothing.
	if n := mustPendingRestarts(t, MustStateDB(t, dir), 0, false); n != 0 {
		t.Fatalf("%d containers still pending restart", n)
	}
	// A (still alive in this test) notices and does not overwrite the outcome.
	backuptest.Wait(t, 10*time.Second, "A to abort", func() bool {
		j, _ := a.Get(ctx, ja.ID)
		return j.Status == jobs.StatusFailed
	})
	if j, _ := a.Get(ctx, ja.ID); sv(j.ErrorCode) != "interrupted" {
		t.Fatalf("A overwrote recovery: %+v", j)
	}
}

func TestManagerProgressMonotonicPersistedAndGetNeverBlocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const interval = 200 * time.Millisecond
	const runFor = 1500 * time.Millisecond
	emitted := atomic.Int64{}
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		t0 := time.Now()
		var bytes int64
		for i := 0; time.Since(t0) < runFor; i++ {
			pct := 2 + i/50
			if i%7 == 0 {
				pct = 1 // a report going backwards must not show
			}
			bytes += 100
			p(progress.Report{Step: progress.StepVolumes, Item: "demo_data", Percent: min(pct, 97), BytesDone: bytes, BytesTotal: 1 << 30, Message: "exporting"})
			emitted.Add(1)
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		return quickRun(ctx, spec, p)
	}
	m := backuptest.MustManager(t, jobs.Config{StateDir: dir, Run: run, PersistInterval: interval})
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	// Hammer Get from several goroutines; watch the DB row from another connection.
	var (
		wg       sync.WaitGroup
		gets     atomic.Int64
		getErrs  atomic.Int64
		backward atomic.Int64
		maxLat   atomic.Int64
		stop     = make(chan struct{})
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				j, err := m.Get(ctx, job.ID)
				if d := time.Since(t0).Microseconds(); d > maxLat.Load() {
					maxLat.Store(d)
				}
				gets.Add(1)
				if err != nil {
					getErrs.Add(1)
					continue
				}
				if j.Progress < last {
					backward.Add(1)
				}
				last = j.Progress
			}
		}()
	}
	db := MustStateDB(t, dir)
	type row struct {
		progress, bytes int64
		step            string
	}
	var changes []row
	var last row
	t0 := time.Now()
	for {
		var r row
		mustRead(t, db, func(tx *statedb.Tx) error {
			j, err := tx.Job(job.ID)
			r = row{int64(j.Progress), j.BytesDone, sv(j.Step)}
			if j.Step == nil {
				r.step = ""
			}
			return err
		})
		if r != last {
			if r.progress < last.progress || r.bytes < last.bytes {
				t.Fatalf("persisted progress went backwards: %+v after %+v", r, last)
			}
			changes = append(changes, r)
			last = r
		}
		j, _ := m.Get(ctx, job.ID)
		if !j.Status.Active() {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	close(stop)
	wg.Wait()
	t.Logf("%d progress reports in %s; %d DB row changes; %d Gets (max latency %dµs)", emitted.Load(), elapsed.Round(time.Millisecond),
		len(changes), gets.Load(), maxLat.Load())
	if getErrs.Load() != 0 || backward.Load() != 0 {
		t.Fatalf("%d Get errors, %d backward progress readings", getErrs.Load(), backward.Load())
	}
	// At most one write per interval, plus step changes (precheck→volumes, →finalize) and the end.
	if limit := int(elapsed/interval) + 4; len(changes) > limit {
		t.Fatalf("%d persisted changes in %s, want at most %d (one per %s)", len(changes), elapsed, limit, interval)
	}
	final, _ := m.Get(ctx, job.ID)
	if final.Status != jobs.StatusCompleted || final.Progress != 100 {
		t.Fatalf("final %+v", final)
	}
}

func TestManagerWatchdogFailsStalledStep(t *testing.T) {
	ctx := context.Background()
	stall := 300 * time.Millisecond
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		p(progress.Report{Step: progress.StepPrecheck, Message: "checking"})
		p(progress.Report{Step: progress.StepVolumes, Item: "demo_data", BytesDone: 10, Message: "exporting"})
		p(progress.Report{Step: progress.StepVolumes, Item: "demo_data", BytesDone: 20, Message: "exporting"})
		<-ctx.Done() // the export hangs
		return nil, &backup.StepError{Step: progress.StepVolumes, Item: "demo_data", Err: context.Cause(ctx)}
	}
	m := backuptest.MustManager(t, jobs.Config{Run: run, StallTimeout: stall})
	t0 := time.Now()
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	got := MustJobEnded(t, m, job.ID)
	t.Logf("stalled job failed after %s (stall timeout %s)", time.Since(t0).Round(time.Millisecond), stall)
	if got.Status != jobs.StatusFailed || sv(got.ErrorCode) != "stalled" || !strings.Contains(sv(got.Detail), "step volumes") {
		t.Fatalf("stalled job: %+v detail %q", got, sv(got.Detail))
	}
	if time.Since(t0) < stall {
		t.Fatalf("failed before the stall timeout")
	}
}

func TestManagerWatchdogImagesFirstByteAllowance(t *testing.T) {
	ctx := context.Background()
	stall := 300 * time.Millisecond
	const estimate = 1 << 20 // at 512 KiB/s: allowance = 300ms + 2s
	firstByteOK := make(chan bool, 1)
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		p(progress.Report{Step: progress.StepPrecheck, Message: "checking"})
		p(progress.Report{Step: progress.StepImages, StepTotal: estimate, BytesTotal: estimate, Message: "saving images"})
		// The engine stages the export: no byte for longer than the plain stall timeout.
		select {
		case <-time.After(3 * stall):
		case <-ctx.Done():
		}
		firstByteOK <- ctx.Err() == nil
		p(progress.Report{Step: progress.StepImages, StepTotal: estimate, BytesDone: 1, BytesTotal: estimate, Message: "saving images"})
		<-ctx.Done() // then it hangs: the plain timeout applies again
		return nil, &backup.StepError{Step: progress.StepImages, Err: context.Cause(ctx)}
	}
	m := backuptest.MustManager(t, jobs.Config{Run: run, StallTimeout: stall, ImagesFirstByteRate: 512 << 10})
	job, err := m.Start(ctx, jobs.Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if !<-firstByteOK {
		t.Fatal("the job was stopped before the images step's first byte, within its first-byte allowance")
	}
	got := MustJobEnded(t, m, job.ID)
	if got.Status != jobs.StatusFailed || sv(got.ErrorCode) != "stalled" || !strings.Contains(sv(got.Detail), "step images") {
		t.Fatalf("job: %+v detail %q", got, sv(got.Detail))
	}
}

func TestManagerCancelWithinGraceWhenRunIgnoresCtx(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	br.ignoreCtx = true
	grace := 500 * time.Millisecond
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run, CancelGrace: grace})
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	br.waitStarted(t)
	t0 := time.Now()
	c, err := m.Cancel(ctx, job.ID, "operator asked")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != jobs.StatusCanceling || c.CancelRequestedAtMs == nil || sv(c.CancelReason) != "operator asked" {
		t.Fatalf("after Cancel: %+v", c)
	}
	statuses := []jobs.Status{jobs.StatusRunning, c.Status}
	got := MustJobWhere(t, m, job.ID, 10*time.Second, "canceled", func(j jobs.Job) bool {
		if j.Status != statuses[len(statuses)-1] {
			statuses = append(statuses, j.Status)
		}
		return !j.Status.Active()
	})
	took := time.Since(t0)
	t.Logf("canceled after %s (grace %s); statuses %v", took.Round(time.Millisecond), grace, statuses)
	if got.Status != jobs.StatusCanceled || got.CanceledAtMs == nil || got.FinishedAtMs == nil || sv(got.ErrorCode) != "canceled" {
		t.Fatalf("canceled job: %+v", got)
	}
	if !slices.Equal(statuses, []jobs.Status{jobs.StatusRunning, jobs.StatusCanceling, jobs.StatusCanceled}) {
		t.Fatalf("status transitions %v", statuses)
	}
	if took > grace+2*time.Second {
		t.Fatalf("cancel took %s, grace is %s", took, grace)
	}
	// The lock stays held until the backup has really returned.
	if li, _ := m.Lock(ctx); !li.Held || li.JobID != job.ID {
		t.Fatalf("lock while the backup still unwinds: %+v", li)
	}
	if _, err := m.Start(ctx, jobs.Request{}); !errors.Is(err, jobs.ErrBusy) {
		t.Fatalf("Start while the canceled backup unwinds: %v", err)
	}
	close(br.release)
	MustLockFree(t, m)
	if got2, _ := m.Get(ctx, job.ID); got2.Status != jobs.StatusCanceled {
		t.Fatalf("after the backup returned: %+v", got2)
	}
}

func TestManagerCancelIsIdempotent(t *testing.T) {
	ctx := context.Background()
	m := backuptest.MustManager(t, jobs.Config{Run: quickRun})
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	done := MustJobEnded(t, m, job.ID)
	for range 2 {
		got, err := m.Cancel(ctx, job.ID, "too late")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != jobs.StatusCompleted || got.CancelRequestedAtMs != nil || got.CancelReason != nil || got.FinishedAtMs == nil ||
			*got.FinishedAtMs != *done.FinishedAtMs {
			t.Fatalf("Cancel of a finished job changed it: %+v", got)
		}
	}
	if _, err := m.Cancel(ctx, 9999, ""); !errors.Is(err, jobs.ErrJobNotFound) {
		t.Fatalf("Cancel of an unknown job: %v", err)
	}
	if _, err := m.Get(ctx, 9999); !errors.Is(err, jobs.ErrJobNotFound) {
		t.Fatalf("Get of an unknown job: %v", err)
	}
	if _, err := m.JobLog(ctx, 9999); !errors.Is(err, jobs.ErrJobNotFound) {
		t.Fatalf("JobLog of an unknown job: %v", err)
	}
	// Canceling twice while running is fine too.
	br := newBlockingRun()
	m2 := backuptest.MustManager(t, jobs.Config{Run: br.Run})
	j2, _ := m2.Start(ctx, jobs.Request{})
	br.waitStarted(t)
	for range 2 {
		if c, err := m2.Cancel(ctx, j2.ID, ""); err != nil {
			t.Fatalf("Cancel: %+v %v", c, err)
		}
	}
	if got := MustJobEnded(t, m2, j2.ID); got.Status != jobs.StatusCanceled || sv(got.CancelReason) != "canceled by request" {
		t.Fatalf("%+v", got)
	}
}

func TestManagerCancelJobOfAnotherProcess(t *testing.T) {
	ctx := context.Background()
	ra := newBlockingRun()
	a, b := twoManagers(t, jobs.Config{Run: ra.Run, Host: "a"}, jobs.Config{Run: quickRun, Host: "b"})
	job, err := a.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	ra.waitStarted(t)
	c, err := b.Cancel(ctx, job.ID, "from the other process")
	if err != nil || c.Status != jobs.StatusCanceling {
		t.Fatalf("Cancel through B: %+v %v", c, err)
	}
	got := MustJobEnded(t, a, job.ID)
	if got.Status != jobs.StatusCanceled || !errors.Is(ra.lastCause(), context.Canceled) {
		t.Fatalf("job canceled through another process: %+v (cause %v)", got, ra.lastCause())
	}
}

func TestManagerSubscribe(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	reports := 5000
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		p(progress.Report{Step: progress.StepPrecheck, Message: "checking"})
		<-release
		for i := range reports {
			p(progress.Report{Step: progress.StepVolumes, Item: "demo_data", Percent: 2 + i*90/reports, BytesDone: int64(i + 1), Message: "exporting"})
		}
		spec.Logger.Info("volume exported")
		return quickRun(ctx, spec, p)
	}
	m := backuptest.MustManager(t, jobs.Config{Run: run})
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := m.Subscribe(sctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	first := <-ch
	if first.Type != "progress" || first.Job == nil || first.Job.ID != job.ID {
		t.Fatalf("first event %+v", first)
	}
	// A reader that does not read must not hold the job back.
	t0 := time.Now()
	close(release)
	MustJobEnded(t, m, job.ID)
	t.Logf("%d progress reports with a stalled subscriber: job done in %s", reports, time.Since(t0).Round(time.Millisecond))
	var types []string
	var final *jobs.Job
	lastPct := -1
	for ev := range ch {
		types = append(types, ev.Type)
		switch ev.Type {
		case "progress":
			if ev.Progress != nil {
				if ev.Progress.Percent < lastPct {
					t.Fatalf("progress event went backwards")
				}
				lastPct = ev.Progress.Percent
			}
		case "final":
			final = ev.Job
		}
	}
	if final == nil || final.Status != jobs.StatusCompleted {
		t.Fatalf("no final event (events %v)", types)
	}
	if len(types) > reports/2 {
		t.Fatalf("%d events delivered to a slow reader: progress was not coalesced", len(types))
	}
	if !slices.Contains(types, "log") {
		t.Fatalf("no log event among %v", types)
	}
	t.Logf("slow subscriber got %d events", len(types))
	// A finished job: one final event, then closed.
	ch2, err := m.Subscribe(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var evs []jobs.Event
	for ev := range ch2 {
		evs = append(evs, ev)
	}
	if len(evs) != 1 || evs[0].Type != "final" {
		t.Fatalf("events of a finished job: %+v", evs)
	}
	if _, err := m.Subscribe(ctx, 424242); !errors.Is(err, jobs.ErrJobNotFound) {
		t.Fatalf("Subscribe unknown: %v", err)
	}
	// The job log kept the backup's own log line.
	lines, _ := m.JobLog(ctx, job.ID)
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l.Message, "volume exported")
	}
	if !found {
		t.Fatalf("job log lacks the backup's log line: %+v", lines)
	}
}

func TestManagerSubscriptionEndsWithCtx(t *testing.T) {
	br := newBlockingRun()
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run})
	job, _ := m.Start(context.Background(), jobs.Request{})
	br.waitStarted(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := m.Subscribe(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	cancel()
	backuptest.Wait(t, 5*time.Second, "the channel to close", func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	})
	close(br.release)
}

func TestManagerStartRefusals(t *testing.T) {
	ctx := context.Background()
	noTarget := backuptest.Settings(t)
	noTarget.TargetLocalDir = ""
	m := backuptest.MustManager(t, jobs.Config{Settings: noTarget, Run: quickRun})
	_, err := m.Start(ctx, jobs.Request{})
	if !errors.Is(err, backup.ErrInvalidSpec) || !strings.Contains(err.Error(), "local_backup_target_not_configured") {
		t.Fatalf("no target: %v", err)
	}
	if jobs, _ := m.List(ctx, jobs.ListOptions{}); len(jobs) != 0 {
		t.Fatalf("a refused start created jobs: %+v", jobs)
	}
	if _, err := m.Packs(ctx); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Fatalf("Packs without a target: %v", err)
	}

	noFull := backuptest.Settings(t)
	noFull.FullBackupEnabled = false
	m2 := backuptest.MustManager(t, jobs.Config{Settings: noFull, Run: quickRun})
	// full_backup_enabled only gates the schedule: a requested full backup runs.
	if job, err := m2.Start(ctx, jobs.Request{Full: true}); err != nil || job.Kind != jobs.KindFull {
		t.Fatalf("full while scheduled full backups are disabled: %+v %v", job, err)
	} else {
		MustJobEnded(t, m2, job.ID)
	}
	if _, err := m2.Start(ctx, jobs.Request{Components: []pack.Component{pack.ComponentDB}}); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Fatalf("db without auth_db_path: %v", err)
	}
	noProject := backuptest.Settings(t)
	noProject.RagflowProjectName = ""
	m3 := backuptest.MustManager(t, jobs.Config{Settings: noProject, Run: quickRun})
	if _, err := m3.Start(ctx, jobs.Request{}); !errors.Is(err, backup.ErrInvalidSpec) || !strings.Contains(err.Error(), "project_not_configured") {
		t.Fatalf("no project: %v", err)
	}
}

func TestManagerKindsAndComponents(t *testing.T) {
	ctx := context.Background()
	set := backuptest.Settings(t)
	set.AuthDBPath = "/srv/app/auth.db"
	var specs []backup.Spec
	var mu sync.Mutex
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		mu.Lock()
		specs = append(specs, spec)
		mu.Unlock()
		return quickRun(ctx, spec, p)
	}
	noImages := set
	noImages.FullBackupIncludeImages = false
	for _, tc := range []struct {
		name  string
		set   settings.Settings
		req   jobs.Request
		kind  jobs.Kind
		comps string
	}{
		{"incremental", set, jobs.Request{}, jobs.KindIncremental, "db,volumes"},
		{"full", set, jobs.Request{Full: true}, jobs.KindFull, "db,volumes,images"},
		{"full without images", noImages, jobs.Request{Full: true}, jobs.KindIncremental, "db,volumes"},
		{"explicit", set, jobs.Request{Components: []pack.Component{pack.ComponentImages, pack.ComponentVolumes}}, jobs.KindFull, "volumes,images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := backuptest.MustManager(t, jobs.Config{Settings: tc.set, Run: run})
			job, err := m.Start(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			MustJobEnded(t, m, job.ID)
			var cs []string
			for _, c := range job.Components {
				cs = append(cs, string(c))
			}
			if job.Kind != tc.kind || strings.Join(cs, ",") != tc.comps {
				t.Fatalf("kind %s components %v, want %s %s", job.Kind, cs, tc.kind, tc.comps)
			}
			mu.Lock()
			spec := specs[len(specs)-1]
			mu.Unlock()
			if spec.Project != "demo" || spec.Target != tc.set.TargetLocalDir || (spec.SQLitePath != "") != slices.Contains(job.Components, pack.ComponentDB) {
				t.Fatalf("spec %+v", spec)
			}
		})
	}
}

func TestManagerEndToEndWithRealRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	eng := backuptest.NewRunningEngine()
	set := backuptest.Settings(t)
	set.AuthDBPath = backuptest.MustSQLite(t, t.TempDir(), "auth.db", "ada")
	set.StopServices = []string{"app"}
	m := backuptest.MustManager(t, jobs.Config{StateDir: dir, Engine: eng, Settings: set})
	job, err := m.Start(ctx, jobs.Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	got := MustJobEnded(t, m, job.ID)
	if got.Status != jobs.StatusCompleted {
		lines, _ := m.JobLog(ctx, job.ID)
		t.Fatalf("job %+v detail %s\nlog %+v", got, sv(got.Detail), lines)
	}
	if got.Progress != 100 || got.OutputDir == nil || got.PackageHash == nil || got.PackName == nil || got.BytesDone == 0 || got.Kind != jobs.KindFull {
		t.Fatalf("completed job %+v", got)
	}
	if _, hash, err := pack.ReadManifest(ctx, *got.OutputDir); err != nil || hash != *got.PackageHash {
		t.Fatalf("pack %s: %v (hash %s vs %s)", *got.OutputDir, err, hash, *got.PackageHash)
	}
	if !eng.IsRunning("c-app") {
		t.Fatal("the stopped service is not running")
	}
	db := MustStateDB(t, dir)
	if n := mustPendingRestarts(t, db, job.ID, true); n != 1 {
		t.Fatalf("%d stopped containers recorded as restarted, want 1", n)
	}
	// The partial directory was recorded (for recovery) while the backup ran.
	var partials string
	mustRead(t, db, func(tx *statedb.Tx) error {
		j, err := tx.Job(job.ID)
		partials = strings.Join(j.PartialDirs, " ")
		return err
	})
	if !strings.Contains(partials, pack.PartialPrefix+strings.TrimPrefix(*got.PackName, pack.NamePrefix)) {
		t.Fatalf("recorded partial dirs %s, pack %s", partials, *got.PackName)
	}
	packs, err := m.Packs(ctx)
	if err != nil || len(packs) != 1 || packs[0].Name != *got.PackName {
		t.Fatalf("Packs: %+v %v", packs, err)
	}
	s, _ := m.Settings(ctx)
	if s.LocalBackupPackCount != 1 || s.LocalBackupTargetPath != set.TargetLocalDir || s.LastRunAtMs == nil {
		t.Fatalf("settings stats %+v", s)
	}
	lines, _ := m.JobLog(ctx, job.ID)
	var steps []string
	for _, l := range lines {
		if strings.HasPrefix(l.Message, "step ") {
			if st := strings.TrimSuffix(strings.Fields(l.Message)[1], ":"); len(steps) == 0 || steps[len(steps)-1] != st {
				steps = append(steps, st)
			}
		}
	}
	if strings.Join(steps, " ") != "precheck sqlite volumes images compose manifest finalize" {
		t.Fatalf("step log lines %v\n%+v", steps, lines)
	}
}

func TestManagerCancelDuringEachStepLeavesNothing(t *testing.T) {
	for _, step := range []progress.Step{progress.StepPrecheck, progress.StepSQLite, progress.StepVolumes, progress.StepImages,
		progress.StepCompose, progress.StepManifest, progress.StepFinalize} {
		t.Run(string(step), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			eng := backuptest.NewRunningEngine()
			set := backuptest.Settings(t)
			set.AuthDBPath = backuptest.MustSQLite(t, t.TempDir(), "auth.db", "ada")
			set.RagflowStopServices = true
			var m *jobs.Manager
			hooks := backup.Hooks{BeforeStep: func(ctx context.Context, s progress.Step) error {
				if s == step {
					id, _ := jobs.JobIDFrom(ctx) // known before Start returns
					if _, err := m.Cancel(context.Background(), id, "cancel at "+string(s)); err != nil {
						return err
					}
				}
				return nil
			}}
			if step == progress.StepVolumes {
				// Cancel in the middle of the export, with the services stopped.
				hooks = backup.Hooks{}
				eng.ExportStarted = make(chan string, 1)
				eng.BlockExport = true
			}
			m = backuptest.MustManager(t, jobs.Config{StateDir: dir, Engine: eng, Settings: set, Hooks: hooks})
			job, err := m.Start(ctx, jobs.Request{Full: true})
			if err != nil {
				t.Fatal(err)
			}
			if step == progress.StepVolumes {
				<-eng.ExportStarted
				if eng.IsRunning("c-app") {
					t.Fatal("services not stopped during the export")
				}
				if _, err := m.Cancel(ctx, job.ID, "mid-export"); err != nil {
					t.Fatal(err)
				}
			}
			got := MustJobEnded(t, m, job.ID)
			MustLockFree(t, m)
			if got.Status != jobs.StatusCanceled {
				t.Fatalf("job %+v detail %s", got, sv(got.Detail))
			}
			ents, _ := os.ReadDir(set.TargetLocalDir)
			for _, e := range ents {
				t.Errorf("left in the target after a cancel at %s: %s", step, e.Name())
			}
			if !eng.IsRunning("c-app") || !eng.IsRunning("c-worker") {
				t.Fatal("a stopped container was left stopped")
			}
			if n := mustPendingRestarts(t, MustStateDB(t, dir), 0, false); n != 0 {
				t.Fatalf("%d containers recorded as still stopped", n)
			}
		})
	}
}

func TestManagerCloseCancelsRunningJob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	set := backuptest.Settings(t)
	br := newBlockingRun()
	m, err := jobs.NewManager(ctx, jobs.Config{StateDir: dir, Engine: backuptest.NewRunningEngine(), Settings: set, Policy: backuptest.Relaxed, Run: br.Run,
		DisableScheduler: true, CancelGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := m.Start(ctx, jobs.Request{})
	br.waitStarted(t)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(br.lastCause(), context.Canceled) {
		t.Fatalf("backup cause %v", br.lastCause())
	}
	m2 := backuptest.MustManager(t, jobs.Config{StateDir: dir, Settings: set, Run: quickRun})
	got, _ := m2.Get(ctx, job.ID)
	if got.Status != jobs.StatusCanceled || sv(got.CancelReason) != "daemon shutting down" {
		t.Fatalf("job after Close: %+v", got)
	}
	if li, _ := m2.Lock(ctx); li.JobID != 0 {
		t.Fatalf("lock after Close: %+v", li)
	}
}

func TestManagerWaitOnClose(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	m, err := jobs.NewManager(ctx, jobs.Config{StateDir: t.TempDir(), Engine: backuptest.NewRunningEngine(), Settings: backuptest.Settings(t), Policy: backuptest.Relaxed,
		Run: br.Run, DisableScheduler: true, WaitOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := m.Start(ctx, jobs.Request{})
	br.waitStarted(t)
	closed := make(chan error, 1)
	go func() { closed <- m.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while the job ran", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := m.Start(ctx, jobs.Request{}); !errors.Is(err, jobs.ErrClosed) {
		t.Fatalf("Start while closing: %v", err)
	}
	close(br.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if br.lastCause() != nil {
		t.Fatalf("the job was canceled: %v", br.lastCause())
	}
	_ = job
}

func TestManagerListNewestFirstAndClamped(t *testing.T) {
	ctx := context.Background()
	failing := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		return nil, &backup.StepError{Step: progress.StepPrecheck, Err: dockerapi.ErrEngineUnreachable}
	}
	m := backuptest.MustManager(t, jobs.Config{Run: failing})
	var ids []int64
	for range 3 {
		j, err := m.Start(ctx, jobs.Request{})
		if err != nil {
			t.Fatal(err)
		}
		got := MustJobEnded(t, m, j.ID)
		if got.Status != jobs.StatusFailed || sv(got.ErrorCode) != "engine_unreachable" || sv(got.Step) != "precheck" {
			t.Fatalf("failed job %+v", got)
		}
		MustLockFree(t, m)
		ids = append(ids, j.ID)
	}
	recent, err := m.List(ctx, jobs.ListOptions{Limit: 2})
	if err != nil || len(recent) != 2 || recent[0].ID != ids[2] || recent[1].ID != ids[1] {
		t.Fatalf("List limit 2: %+v %v", recent, err)
	}
	for _, tc := range []struct{ limit, want int }{{0, 3}, {-5, 1}, {1000, 3}} {
		recent, _ := m.List(ctx, jobs.ListOptions{Limit: tc.limit})
		if len(recent) != tc.want {
			t.Errorf("List limit %d: %d recent, want %d", tc.limit, len(recent), tc.want)
		}
	}
	if recent, _ := m.List(ctx, jobs.ListOptions{Status: jobs.StatusCompleted}); len(recent) != 0 {
		t.Errorf("status filter: %+v", recent)
	}
	if recent, _ := m.List(ctx, jobs.ListOptions{Status: jobs.StatusFailed}); len(recent) != 3 {
		t.Errorf("status filter failed: %d", len(recent))
	}
}

func TestManagerJobLogIsCapped(t *testing.T) {
	ctx := context.Background()
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		for i := range 50 {
			spec.Logger.Info("line", zap.Int("i", i))
		}
		return quickRun(ctx, spec, p)
	}
	m := backuptest.MustManager(t, jobs.Config{Run: run, EventsPerJob: 10})
	job, _ := m.Start(ctx, jobs.Request{})
	MustJobEnded(t, m, job.ID)
	MustLockFree(t, m)
	lines, err := m.JobLog(ctx, job.ID)
	if err != nil || len(lines) != 10 {
		t.Fatalf("%d lines (%v), want 10", len(lines), err)
	}
	if last := lines[len(lines)-1].Message; !strings.Contains(last, "complete") && !strings.Contains(last, "finalize") {
		t.Logf("last line %q", last)
	}
}

func TestManagerAbandonsRunIgnoringCancel(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	br.ignoreCtx = true
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run, CancelGrace: 200 * time.Millisecond, AbandonAfter: 600 * time.Millisecond})
	t.Cleanup(func() { close(br.release) }) // runs before Close (cleanups are LIFO)
	job, _ := m.Start(ctx, jobs.Request{})
	br.waitStarted(t)
	t0 := time.Now()
	if _, err := m.Cancel(ctx, job.ID, "stuck"); err != nil {
		t.Fatal(err)
	}
	if got := MustJobEnded(t, m, job.ID); got.Status != jobs.StatusCanceled || !strings.Contains(sv(got.Detail), "had not unwound") {
		t.Fatalf("job %+v detail %s", got, sv(got.Detail))
	}
	MustLockFree(t, m)
	t.Logf("lock released %s after the cancel of a backup that never returned", time.Since(t0).Round(time.Millisecond))
	next, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatalf("Start after the abandoned backup: %v", err)
	}
	if _, err := m.Cancel(ctx, next.ID, ""); err != nil {
		t.Fatal(err)
	}
	lines, _ := m.JobLog(ctx, job.ID)
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l.Message, "abandoning")
	}
	if !found {
		t.Fatalf("no abandon line in %+v", lines)
	}
}

func TestManagerCancelOrphanedJob(t *testing.T) {
	ctx := context.Background()
	clockB := backuptest.NewClock(time.Now())
	ra := newBlockingRun()
	engB := backuptest.NewRunningEngine()
	a, b := twoManagers(t,
		jobs.Config{Run: ra.Run, Host: "host-a", LeaseDuration: 3 * time.Second},
		jobs.Config{Run: quickRun, Host: "host-b", Now: clockB.Now, LeaseDuration: 3 * time.Second, Engine: engB})
	job, err := a.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	ra.waitStarted(t)
	clockB.Advance(time.Hour) // A's lease is long expired for B: nobody runs the job
	got, err := b.Cancel(ctx, job.ID, "cleanup")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.StatusCanceled || got.CanceledAtMs == nil || sv(got.CancelReason) != "cleanup" {
		t.Fatalf("orphan after Cancel: %+v", got)
	}
	if li, _ := b.Lock(ctx); li.JobID != 0 {
		t.Fatalf("the orphan's lock row was kept: %+v", li)
	}
	// A finds its job ended by someone else and stops.
	backuptest.Wait(t, 10*time.Second, "A to stop", func() bool { return errors.Is(ra.lastCause(), backup.ErrLeaseLost) })
	if j, _ := a.Get(ctx, job.ID); j.Status != jobs.StatusCanceled {
		t.Fatalf("A overwrote the cancel: %+v", j)
	}
}

// A job seen ended can be followed by the next start at once: Start waits
// for this process's ended job to release the lock (no 409 in between).
func TestManagerStartRightAfterAnEnd(t *testing.T) {
	ctx := context.Background()
	m := backuptest.MustManager(t, jobs.Config{Run: quickRun})
	var prev int64
	for i := range 30 {
		j, err := m.Start(ctx, jobs.Request{})
		if err != nil {
			t.Fatalf("start %d, right after job %d ended: %v", i, prev, err)
		}
		prev = MustJobEnded(t, m, j.ID).ID
	}
}
