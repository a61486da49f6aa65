package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/settings"
)

func TestScheduleParse(t *testing.T) {
	for expr, ok := range map[string]bool{
		"0 2 * * *":        true,
		"*/15 * * * 1-5":   true,
		"0 3 1 jan sun":    true,
		"  30 4 * * *  ":   true,
		"0 2 * *":          false,
		"0 0 2 * * *":      false,
		"@daily":           false,
		"@every 1h":        false,
		"TZ=UTC 0 2 * * *": false,
		"61 * * * *":       false,
		"":                 false,
		"a b c d e":        false,
	} {
		_, err := settings.ParseSchedule(expr)
		if (err == nil) != ok {
			t.Errorf("ParseSchedule(%q) = %v, want ok=%v", expr, err, ok)
		}
		if err != nil && !errors.Is(err, settings.ErrSchedule) {
			t.Errorf("ParseSchedule(%q) error %v does not match ErrSchedule", expr, err)
		}
	}
}

func FuzzScheduleParse(f *testing.F) {
	for _, s := range []string{"0 2 * * *", "*/5 1-3 * jan-mar mon", "@daily", "0 0 31 2 *", "1,2,3 * * * *"} {
		f.Add(s)
	}
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		sch, err := settings.ParseSchedule(expr)
		if err != nil {
			return
		}
		if len(strings.Fields(expr)) != 5 {
			t.Fatalf("accepted %q", expr)
		}
		// Next never looks backwards (missed runs are never replayed).
		if n := sch.Next(t0); !n.IsZero() && !n.After(t0) {
			t.Fatalf("Next(%s) = %s for %q", t0, n, expr)
		}
	})
}

func TestScheduleStatusFollowsSettings(t *testing.T) {
	ctx := context.Background()
	clock := backuptest.NewClock(time.Date(2025, 1, 1, 10, 30, 0, 0, time.UTC))
	m := backuptest.MustManagerWithScheduler(t, jobs.Config{Run: quickRun, Now: clock.Now, Location: time.UTC})
	st, err := m.ScheduleStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NextIncremental != nil || st.NextFull != nil || st.SkippedTotal != 0 || st.LastSkippedAt != nil || st.Location != "UTC" {
		t.Fatalf("no schedules: %+v", st)
	}
	set := func(p settings.Patch) jobs.ScheduleStatus {
		t.Helper()
		p.ChangeReason = "test"
		if _, err := m.UpdateSettings(ctx, p); err != nil {
			t.Fatal(err)
		}
		st, err := m.ScheduleStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st = set(MustPatch(t, "", "incremental_schedule", "0 2 * * *", "full_backup_schedule", "0 3 * * 0"))
	if st.NextIncremental == nil || !st.NextIncremental.Equal(time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("next incremental %v", st.NextIncremental)
	}
	if st.NextFull == nil || !st.NextFull.Equal(time.Date(2025, 1, 5, 3, 0, 0, 0, time.UTC)) { // the next Sunday
		t.Fatalf("next full %v", st.NextFull)
	}
	// A PUT reschedules at once.
	st = set(MustPatch(t, "", "incremental_schedule", "0 12 * * *"))
	if st.NextIncremental == nil || !st.NextIncremental.Equal(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("next incremental after the change %v", st.NextIncremental)
	}
	// Full backups disabled: no full schedule.
	st = set(MustPatch(t, "", "full_backup_enabled", false))
	if st.NextFull != nil || st.NextIncremental == nil || sv(st.Full) != "0 3 * * 0" {
		t.Fatalf("full disabled: %+v", st)
	}
	// Scheduled runs disabled altogether.
	st = set(MustPatch(t, "", "enabled", false))
	if st.NextFull != nil || st.NextIncremental != nil {
		t.Fatalf("enabled=false: %+v", st)
	}
}

func TestScheduleMissedRunsAreNotReplayed(t *testing.T) {
	ctx := context.Background()
	clock := backuptest.NewClock(time.Date(2024, 2, 28, 12, 0, 0, 0, time.UTC))
	set := backuptest.Settings(t)
	set.IncrementalSchedule = new("0 3 29 2 *") // leap days only: never fires in real time during the test
	m := backuptest.MustManagerWithScheduler(t, jobs.Config{Settings: set, Run: quickRun, Now: clock.Now, Location: time.UTC})
	st, _ := m.ScheduleStatus(ctx)
	if st.NextIncremental == nil || !st.NextIncremental.Equal(time.Date(2024, 2, 29, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("next %v", st.NextIncremental)
	}
	// The daemon was "down" over the firing: the next run is the next one
	// from now, the missed one is not run.
	clock.Advance(7 * 24 * time.Hour)
	st, _ = m.ScheduleStatus(ctx)
	if st.NextIncremental == nil || !st.NextIncremental.Equal(time.Date(2028, 2, 29, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("next after the gap %v", st.NextIncremental)
	}
	if jobs, _ := m.List(ctx, jobs.ListOptions{}); len(jobs) != 0 {
		t.Fatalf("missed run replayed: %+v", jobs)
	}
}

func TestScheduleFiringWhileBusyIsSkipped(t *testing.T) {
	ctx := context.Background()
	set := backuptest.Settings(t)
	set.IncrementalSchedule = new("0 3 29 2 *")
	br := newBlockingRun()
	m := backuptest.MustManagerWithScheduler(t, jobs.Config{Settings: set, Run: br.Run})
	running, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	br.waitStarted(t)
	jobs.FireSchedule(m, "incremental")
	jobs.FireSchedule(m, "incremental")
	st, err := m.ScheduleStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SkippedTotal != 2 || st.LastSkippedAt == nil || !strings.Contains(st.LastSkippedReason, "job") ||
		!strings.Contains(st.LastSkippedReason, "was running") {
		t.Fatalf("after two busy firings: %+v", st)
	}
	s, _ := m.Settings(ctx)
	if s.LastSkippedRunAtMs == nil || s.LastSkippedRunReason != st.LastSkippedReason {
		t.Fatalf("settings show %v %q", s.LastSkippedRunAtMs, s.LastSkippedRunReason)
	}
	if jobs, _ := m.List(ctx, jobs.ListOptions{}); len(jobs) != 1 {
		t.Fatalf("a busy firing was queued: %d jobs", len(jobs))
	}
	close(br.release)
	MustJobEnded(t, m, running.ID)
	MustLockFree(t, m)
	// Free: the firing starts a scheduled job.
	jobs.FireSchedule(m, "incremental")
	recent, _ := m.List(ctx, jobs.ListOptions{})
	if len(recent) != 2 || recent[0].Trigger != "schedule" || recent[0].Kind != jobs.KindIncremental {
		t.Fatalf("recent after a free firing: %+v", recent)
	}
	MustJobEnded(t, m, recent[0].ID)
}

func TestScheduleFullCoversIncrementalInSameMinute(t *testing.T) {
	ctx := context.Background()
	clock := backuptest.NewClock(time.Date(2025, 1, 5, 2, 0, 0, 0, time.UTC))
	set := backuptest.Settings(t)
	set.IncrementalSchedule = new("0 * * * *")
	set.FullBackupSchedule = new("0 2 * * *")
	m := backuptest.MustManagerWithScheduler(t, jobs.Config{Settings: set, Run: quickRun, Now: clock.Now, Location: time.UTC})
	jobs.FireSchedule(m, "incremental")
	if jobs, _ := m.List(ctx, jobs.ListOptions{}); len(jobs) != 0 {
		t.Fatalf("the incremental run was not dropped: %+v", jobs)
	}
	jobs.FireSchedule(m, "full")
	recent, _ := m.List(ctx, jobs.ListOptions{})
	if len(recent) != 1 || recent[0].Kind != jobs.KindFull {
		t.Fatalf("recent %+v", recent)
	}
	if st, _ := m.ScheduleStatus(ctx); st.SkippedTotal != 0 {
		t.Fatalf("the dropped incremental run counted as skipped: %+v", st)
	}
	MustJobEnded(t, m, recent[0].ID)
}

func TestScheduleTimeZone(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai") // from the embedded tzdata if the system has none
	if err != nil {
		t.Fatal(err)
	}
	clock := backuptest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) // 08:00 in Shanghai
	set := backuptest.Settings(t)
	set.IncrementalSchedule = new("0 9 * * *")
	m := backuptest.MustManagerWithScheduler(t, jobs.Config{Settings: set, Run: quickRun, Now: clock.Now, Location: loc})
	st, _ := m.ScheduleStatus(context.Background())
	if st.NextIncremental == nil || !st.NextIncremental.Equal(time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)) || st.Location != "Asia/Shanghai" {
		t.Fatalf("next %v in %s", st.NextIncremental, st.Location)
	}
}
