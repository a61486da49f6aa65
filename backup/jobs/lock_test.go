package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/internal/owner"
)

func TestLockBusyNamesHolder(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run, Host: "host-a", PID: 4242, ProcStart: "boot/ns/1"})
	first, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != jobs.StatusRunning || first.Kind != jobs.KindIncremental || first.Trigger != "manual" || first.Project != "demo" ||
		first.VerificationStatus != jobs.VerificationNotVerified || first.ID == 0 || first.StartedAtMs == nil {
		t.Fatalf("started job %+v", first)
	}
	br.waitStarted(t)
	_, err = m.Start(ctx, jobs.Request{Full: true})
	var be *jobs.BusyError
	if !errors.As(err, &be) || !errors.Is(err, jobs.ErrBusy) || be.JobID != first.ID {
		t.Fatalf("second Start: %v, want BusyError{JobID: %d}", err, first.ID)
	}
	li, err := m.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !li.Held || li.Stale || li.JobID != first.ID || li.Host != "host-a" || li.PID != 4242 || len(li.OwnerToken) != 8 {
		t.Fatalf("lock info %+v", li)
	}
	if !li.ExpiresAt.After(li.AcquiredAt) {
		t.Fatalf("lease expires %s, acquired %s", li.ExpiresAt, li.AcquiredAt)
	}
	close(br.release)
	MustJobEnded(t, m, first.ID)
	MustLockFree(t, m)
	li, _ = m.Lock(ctx)
	if li.Held || li.JobID != 0 {
		t.Fatalf("lock after the job: %+v", li)
	}
	// Free again: the next Start wins.
	second, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatalf("Start after release: %v", err)
	}
	MustJobEnded(t, m, second.ID)
}

// twoManagers opens two managers (two "processes") sharing one state DB.
func twoManagers(t *testing.T, a, b jobs.Config) (*jobs.Manager, *jobs.Manager) {
	t.Helper()
	dir := t.TempDir()
	set := backuptest.Settings(t)
	a.StateDir, b.StateDir = dir, dir
	a.Settings, b.Settings = set, set
	return backuptest.MustManager(t, a), backuptest.MustManager(t, b)
}

func TestLockExpiredLeaseIsTakenOver(t *testing.T) {
	ctx := context.Background()
	clockA := backuptest.NewClock(time.Now())
	clockB := backuptest.NewClock(time.Now())
	ra, rb := newBlockingRun(), newBlockingRun()
	ra.createDir, rb.createDir = true, true
	engB := backuptest.NewRunningEngine()
	a, b := twoManagers(t,
		jobs.Config{Run: ra.Run, Host: "host-a", PID: 100, Now: clockA.Now, LeaseDuration: 3 * time.Second},
		jobs.Config{Run: rb.Run, Host: "host-b", PID: 200, Now: clockB.Now, LeaseDuration: 3 * time.Second, Engine: engB})
	ja, err := a.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	ra.waitStarted(t)
	// While A's lease is live, B is busy.
	var be *jobs.BusyError
	if _, err := b.Start(ctx, jobs.Request{}); !errors.As(err, &be) || be.JobID != ja.ID {
		t.Fatalf("B while A runs: %v", err)
	}
	// B's clock passes A's lease (as if A were frozen that long): B takes over.
	clockB.Advance(time.Minute)
	li, _ := b.Lock(ctx)
	if li.Held || !li.Stale || !strings.Contains(li.StaleReason, "expired") {
		t.Fatalf("lock seen by B: %+v", li)
	}
	jb, err := b.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatalf("B after A's lease expired: %v", err)
	}
	rb.waitStarted(t)
	// Recovery ran at the takeover: A's job is interrupted.
	got := MustJobWhere(t, b, ja.ID, 5*time.Second, "interrupted", func(j jobs.Job) bool { return j.Status == jobs.StatusFailed })
	if sv(got.ErrorCode) != "interrupted" || !strings.Contains(sv(got.Detail), "host-a") {
		t.Fatalf("A's job after takeover: %+v", got)
	}
	// A, resumed, finds its lease lost and aborts, without touching B's files.
	backuptest.Wait(t, 10*time.Second, "A's backup to see ErrLeaseLost", func() bool { return errors.Is(ra.lastCause(), backup.ErrLeaseLost) })
	// A now sees B's live lease like any other process would.
	if _, err := a.Start(ctx, jobs.Request{}); !errors.As(err, &be) || be.JobID != jb.ID {
		t.Fatalf("A after losing its lease: %v, want busy with B's job %d", err, jb.ID)
	}
	li, _ = b.Lock(ctx)
	if !li.Held || li.JobID != jb.ID || li.Host != "host-b" {
		t.Fatalf("lock after A aborted: %+v (B's job %d)", li, jb.ID)
	}
	got, _ = a.Get(ctx, ja.ID)
	if sv(got.ErrorCode) != "interrupted" {
		t.Fatalf("A overwrote the recovered outcome: %+v", got)
	}
	rb.mu.Lock()
	bDir := rb.dirs[0]
	rb.mu.Unlock()
	if !backuptest.Exists(bDir) {
		t.Fatalf("B's partial dir %s was removed", bDir)
	}
	if jb2, _ := b.Get(ctx, jb.ID); jb2.Status != jobs.StatusRunning {
		t.Fatalf("B's job %+v", jb2)
	}
	close(rb.release)
	MustJobEnded(t, b, jb.ID)
}

func TestLockDeadOwnerOnSameHostIsTakenOverAtOnce(t *testing.T) {
	ctx := context.Background()
	ra, rb := newBlockingRun(), newBlockingRun()
	dead := func(pid int, procStart string) bool { return pid != 100 } // A's pid is gone
	a, b := twoManagers(t,
		jobs.Config{Run: ra.Run, Host: "same-host", PID: 100, ProcStart: "boot/ns/111", LeaseDuration: time.Hour},
		jobs.Config{Run: rb.Run, Host: "same-host", PID: 200, ProcStart: "boot/ns/222", LeaseDuration: time.Hour, ProcAlive: dead})
	ja, err := a.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	ra.waitStarted(t)
	li, _ := b.Lock(ctx)
	if li.Held || !strings.Contains(li.StaleReason, "not running") {
		t.Fatalf("lock seen by B: %+v", li)
	}
	jb, err := b.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatalf("B with A dead on the same host: %v", err)
	}
	got, _ := b.Get(ctx, ja.ID)
	if got.Status != jobs.StatusFailed || sv(got.ErrorCode) != "interrupted" {
		t.Fatalf("dead owner's job: %+v", got)
	}
	close(rb.release)
	MustJobEnded(t, b, jb.ID)
	backuptest.Wait(t, 10*time.Second, "A to notice", func() bool { return errors.Is(ra.lastCause(), backup.ErrLeaseLost) })
}

func TestLockOtherHostIsAliveUntilExpiry(t *testing.T) {
	ctx := context.Background()
	clockB := backuptest.NewClock(time.Now())
	ra := newBlockingRun()
	never := func(int, string) bool { return false } // would call every local owner dead
	a, b := twoManagers(t,
		jobs.Config{Run: ra.Run, Host: "host-a", PID: 100, LeaseDuration: 30 * time.Second},
		jobs.Config{Run: quickRun, Host: "host-b", PID: 100, Now: clockB.Now, LeaseDuration: 30 * time.Second, ProcAlive: never})
	ja, err := a.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	ra.waitStarted(t)
	clockB.Advance(20 * time.Second) // within the lease
	if _, err := b.Start(ctx, jobs.Request{}); !errors.Is(err, jobs.ErrBusy) {
		t.Fatalf("B within A's lease: %v", err)
	}
	clockB.Advance(20 * time.Second) // past it
	jb, err := b.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatalf("B past A's lease: %v", err)
	}
	MustJobEnded(t, b, jb.ID)
	if got, _ := b.Get(ctx, ja.ID); sv(got.ErrorCode) != "interrupted" {
		t.Fatalf("A's job %+v", got)
	}
}

func TestLockRenewalExtendsLease(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	lease := 300 * time.Millisecond
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run, LeaseDuration: lease})
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	br.waitStarted(t)
	li0, _ := m.Lock(ctx)
	// Well past several leases the lock is still held, with a later expiry and heartbeat.
	var li jobs.LockInfo
	backuptest.Wait(t, 10*time.Second, "the lease to be renewed past 3 leases", func() bool {
		li, _ = m.Lock(ctx)
		return li.ExpiresAt.Sub(li0.ExpiresAt) > 3*lease
	})
	if !li.Held || li.JobID != job.ID || !li.AcquiredAt.Equal(li0.AcquiredAt) {
		t.Fatalf("renewed lock %+v (first %+v)", li, li0)
	}
	j, _ := m.Get(ctx, job.ID)
	if j.HeartbeatAtMs == nil || *j.HeartbeatAtMs <= j.CreatedAtMs {
		t.Fatalf("heartbeat %v, created %d", j.HeartbeatAtMs, j.CreatedAtMs)
	}
	if j.Status != jobs.StatusRunning {
		t.Fatalf("job %+v", j)
	}
	close(br.release)
	MustJobEnded(t, m, job.ID)
}

func TestLockLostLeaseCancelsJob(t *testing.T) {
	ctx := context.Background()
	br := newBlockingRun()
	var ended []jobs.Job
	var mu sync.Mutex
	dir := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{StateDir: dir, Run: br.Run, LeaseDuration: 300 * time.Millisecond,
		OnJobEnd: func(j jobs.Job) { mu.Lock(); ended = append(ended, j); mu.Unlock() }})
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	br.waitStarted(t)
	// Another owner overwrites the lock row (a takeover without recovery).
	db := MustStateDB(t, dir)
	mustWrite(t, db, func(tx *statedb.Tx) error {
		l, err := tx.Lock()
		if err != nil || l == nil {
			return fmt.Errorf("lock row %v: %v", l, err)
		}
		l.OwnerToken = "someone-else"
		return tx.PutLock(*l)
	})
	got := MustJobEnded(t, m, job.ID)
	if got.Status != jobs.StatusFailed || sv(got.ErrorCode) != "lease_lost" {
		t.Fatalf("job after losing its lease: %+v", got)
	}
	if !errors.Is(br.lastCause(), backup.ErrLeaseLost) {
		t.Fatalf("the backup's ctx cause is %v, want ErrLeaseLost", br.lastCause())
	}
	// The lock row is the new owner's: not released by the loser.
	mustRead(t, db, func(tx *statedb.Tx) error {
		if l, err := tx.Lock(); err != nil || l == nil || l.OwnerToken != "someone-else" {
			t.Fatalf("the loser deleted the new owner's lock row (%+v, %v)", l, err)
		}
		return nil
	})
	backuptest.Wait(t, 5*time.Second, "OnJobEnd", func() bool { mu.Lock(); defer mu.Unlock(); return len(ended) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(ended) != 1 || ended[0].ID != job.ID || sv(ended[0].ErrorCode) != "lease_lost" {
		t.Fatalf("OnJobEnd calls %+v", ended)
	}
}

func TestLockOneWinnerAmongConcurrentStarts(t *testing.T) {
	t.Run("one manager", func(t *testing.T) {
		br := newBlockingRun()
		m := backuptest.MustManager(t, jobs.Config{Run: br.Run})
		lockRace(t, []*jobs.Manager{m}, 200)
		close(br.release)
	})
	t.Run("two managers", func(t *testing.T) {
		ra, rb := newBlockingRun(), newBlockingRun()
		a, b := twoManagers(t, jobs.Config{Run: ra.Run, Host: "h", PID: 1}, jobs.Config{Run: rb.Run, Host: "h", PID: 2})
		lockRace(t, []*jobs.Manager{a, b}, 200)
		close(ra.release)
		close(rb.release)
	})
}

func lockRace(t *testing.T, ms []*jobs.Manager, n int) {
	t.Helper()
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int64
		busyIDs = map[int64]int{}
		others  []error
	)
	start := make(chan struct{})
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			j, err := ms[i%len(ms)].Start(ctx, jobs.Request{})
			mu.Lock()
			defer mu.Unlock()
			var be *jobs.BusyError
			switch {
			case err == nil:
				winners = append(winners, j.ID)
			case errors.As(err, &be):
				busyIDs[be.JobID]++
			default:
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("%d concurrent Starts on %d manager(s) took %s", n, len(ms), time.Since(t0))
	if len(others) > 0 {
		t.Fatalf("%d unexpected errors, first: %v", len(others), others[0])
	}
	if len(winners) != 1 {
		t.Fatalf("%d winners: %v", len(winners), winners)
	}
	if busyIDs[winners[0]] != n-1 || len(busyIDs) != 1 {
		t.Fatalf("busy errors name %v, want %d × job %d", busyIDs, n-1, winners[0])
	}
	recent, err := ms[0].List(ctx, jobs.ListOptions{Limit: 200})
	if err != nil || len(recent) != 1 {
		t.Fatalf("%d recent in the DB (%v), want 1", len(recent), err)
	}
}

func TestLockProcAlive(t *testing.T) {
	self := owner.ProcStartOf(os.Getpid())
	if self == "" || strings.Count(self, "/") != 2 {
		t.Fatalf("ProcStartOf(self) = %q", self)
	}
	if !owner.ProcAlive(os.Getpid(), self) {
		t.Fatal("this process is not alive")
	}
	// A pid whose start time differs is another process (pid reuse).
	parts := strings.Split(self, "/")
	if owner.ProcAlive(os.Getpid(), parts[0]+"/"+parts[1]+"/1") {
		t.Fatal("a different start time was taken for the same process")
	}
	// A process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	pid := cmd.Process.Pid
	if owner.ProcAlive(pid, parts[0]+"/"+parts[1]+"/123") {
		// The pid could have been reused in between; only fail if it is really gone.
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			t.Fatalf("exited pid %d is alive", pid)
		}
	}
	// What cannot be compared counts as alive (until the lease expires).
	for _, ps := range []string{"", "garbage", "other-boot/" + parts[1] + "/1"} {
		if !owner.ProcAlive(pid, ps) {
			t.Errorf("ProcAlive(%d, %q) = false, want true (not comparable)", pid, ps)
		}
	}
}
