package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	// Time zone data in the binary, so schedules work in a FROM-scratch image.
	_ "time/tzdata"
)

// Schedules: two 5-field cron expressions from the settings, run with
// robfig/cron in Config.Location.
//   - incremental_schedule runs the default components (db + volumes);
//   - full_backup_schedule runs a full backup (+ images when
//     full_backup_include_images), only while full_backup_enabled.
//
// Both run only while the setting "enabled" is true. A firing while a backup
// holds the lock is not queued: it is logged, counted (SkippedTotal) and
// recorded as the last skipped run. When both schedules fire in the same
// minute the full backup runs and the incremental one is dropped (not
// counted as skipped: the full backup covers it). Runs missed while the
// daemon was down are not replayed: cron only looks forward from now.

// ScheduleStatus is what the scheduler is set to do.
type ScheduleStatus struct {
	Incremental *string `json:"incremental_schedule"`
	Full        *string `json:"full_backup_schedule"`
	// NextIncremental/NextFull are the next firings, nil when that schedule
	// is not active (unset, "enabled" off, full backups disabled, or the
	// scheduler turned off).
	NextIncremental   *time.Time `json:"next_incremental"`
	NextFull          *time.Time `json:"next_full"`
	LastSkippedAt     *time.Time `json:"last_skipped_at"`
	LastSkippedReason string     `json:"last_skipped_reason"`
	// SkippedTotal counts the firings skipped by this process (a metric).
	SkippedTotal int64  `json:"skipped_total"`
	Location     string `json:"location"`
}

const (
	scheduleIncremental = "incremental"
	scheduleFull        = "full"
)

type scheduler struct {
	m       *Manager
	c       *cron.Cron
	skipped atomic.Int64

	mu       sync.Mutex
	entries  []cron.EntryID
	incSched cron.Schedule
	fullSch  cron.Schedule
	inc      *string
	full     *string
}

func newScheduler(m *Manager) *scheduler {
	return &scheduler{m: m, c: cron.New(cron.WithLocation(m.cfg.Location), cron.WithParser(settings.CronParser))}
}

func (s *scheduler) start() { s.c.Start() }

func (s *scheduler) stop() {
	<-s.c.Stop().Done()
}

// reload replaces the cron entries with the settings' schedules.
func (s *scheduler) reload(set settings.Settings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.entries {
		s.c.Remove(id)
	}
	s.entries, s.incSched, s.fullSch = nil, nil, nil
	s.inc, s.full = set.IncrementalSchedule, set.FullBackupSchedule
	if !set.Enabled {
		s.m.log.Info("scheduled backups disabled (setting enabled=false)")
		return
	}
	add := func(kind string, expr *string) cron.Schedule {
		if expr == nil {
			return nil
		}
		sch, err := settings.ParseSchedule(*expr)
		if err != nil {
			s.m.log.Error("schedule not installed", zap.String("kind", kind), zap.Error(err))
			return nil
		}
		s.entries = append(s.entries, s.c.Schedule(sch, cron.FuncJob(func() { s.fire(kind) })))
		s.m.log.Info("backup schedule installed", zap.String("kind", kind), zap.String("cron", *expr), zap.String("tz", s.m.cfg.Location.String()))
		return sch
	}
	s.incSched = add(scheduleIncremental, set.IncrementalSchedule)
	if set.FullBackupEnabled {
		s.fullSch = add(scheduleFull, set.FullBackupSchedule)
	}
}

// fire starts a scheduled backup; a busy lock (or any refusal) is a skip.
func (s *scheduler) fire(kind string) {
	m := s.m
	now := m.cfg.Now().In(m.cfg.Location)
	if kind == scheduleIncremental {
		s.mu.Lock()
		full := s.fullSch
		s.mu.Unlock()
		minute := now.Truncate(time.Minute)
		if full != nil && full.Next(minute.Add(-time.Second)).Equal(minute) {
			m.log.Info("scheduled incremental backup dropped: the full backup scheduled for the same minute covers it")
			return
		}
	}
	ctx, cancel := context.WithTimeout(m.base, 4*m.cfg.BusyTimeout)
	defer cancel()
	job, err := m.Start(ctx, Request{Full: kind == scheduleFull, Trigger: "schedule"})
	if err == nil {
		m.log.Info("scheduled backup started", zap.String("kind", kind), zap.Int64("job_id", job.ID))
		return
	}
	if errors.Is(err, ErrClosed) {
		return
	}
	reason := fmt.Sprintf("%s backup not started: %v", kind, err)
	var be *BusyError
	if errors.As(err, &be) {
		reason = fmt.Sprintf("%s backup skipped: job %d was running (%s)", kind, be.JobID, be.Owner)
	}
	s.skipped.Add(1)
	m.log.Warn("scheduled backup skipped", zap.String("kind", kind), zap.String("reason", reason), zap.Int64("skipped_total", s.skipped.Load()))
	_ = m.db.Write(ctx, func(tx *statedb.Tx) error {
		if err := tx.SetMeta(metaLastSkippedAt, strconv.FormatInt(m.cfg.Now().UnixMilli(), 10)); err != nil {
			return err
		}
		return tx.SetMeta(metaLastSkippedReason, reason)
	})
}

// ScheduleStatus reports the schedules, their next firings (computed from
// now: missed runs are never replayed) and the skipped runs.
func (m *Manager) ScheduleStatus(ctx context.Context) (ScheduleStatus, error) {
	set, err := m.loadSettings(ctx)
	if err != nil {
		return ScheduleStatus{}, err
	}
	st := ScheduleStatus{Incremental: set.IncrementalSchedule, Full: set.FullBackupSchedule, Location: m.cfg.Location.String()}
	if m.sched != nil {
		now := m.cfg.Now().In(m.cfg.Location)
		m.sched.mu.Lock()
		if m.sched.incSched != nil {
			st.NextIncremental = ptr(m.sched.incSched.Next(now))
		}
		if m.sched.fullSch != nil {
			st.NextFull = ptr(m.sched.fullSch.Next(now))
		}
		m.sched.mu.Unlock()
		st.SkippedTotal = m.sched.skipped.Load()
	}
	err = m.db.Read(ctx, func(tx *statedb.Tx) error {
		v, ok, err := tx.Meta(metaLastSkippedAt)
		if err != nil {
			return err
		}
		if ok {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				st.LastSkippedAt = ptr(time.UnixMilli(ms).In(m.cfg.Location))
			}
		}
		st.LastSkippedReason, _, err = tx.Meta(metaLastSkippedReason)
		return err
	})
	return st, err
}
