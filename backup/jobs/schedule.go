package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dockpack/dockpack/backup/jobs/internal/schedule"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/settings"
	"go.uber.org/zap"
)

// Schedules (package schedule): a firing starts a backup; a firing while
// a backup holds the lock is not queued: it is logged, counted
// (SkippedTotal) and recorded as the last skipped run.

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

// scheduler is the Manager's schedule.Scheduler.
type scheduler struct{ *schedule.Scheduler }

func newScheduler(m *Manager) *scheduler {
	return &scheduler{schedule.New(m.cfg.Location, m.log, m.cfg.Now, m.fire)}
}

func (s *scheduler) reload(set settings.Settings) { s.Reload(set) } // settings.go
func (s *scheduler) fire(kind string)             { s.Fire(kind) }  // FireSchedule

// fire starts a scheduled backup; a busy lock (or any refusal) is a skip.
func (m *Manager) fire(kind string) {
	ctx, cancel := context.WithTimeout(m.base, 4*m.cfg.BusyTimeout)
	defer cancel()
	job, err := m.Start(ctx, Request{Full: kind == schedule.Full, Trigger: "schedule"})
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
	skipped := m.sched.Skipped.Add(1)
	m.log.Warn("scheduled backup skipped", zap.String("kind", kind), zap.String("reason", reason), zap.Int64("skipped_total", skipped))
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
		st.NextIncremental, st.NextFull = m.sched.Next(m.cfg.Now())
		st.SkippedTotal = m.sched.Skipped.Load()
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
