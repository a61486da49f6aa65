// Package schedule runs the two backup schedules of the settings, 5-field
// cron expressions, with robfig/cron in a time zone:
//   - incremental_schedule runs the default components (db + volumes);
//   - full_backup_schedule runs a full backup (+ images when
//     full_backup_include_images), only while full_backup_enabled.
//
// Both run only while the setting "enabled" is true. When both schedules
// fire in the same minute the full backup runs and the incremental one is
// dropped (the full backup covers it). Runs missed while the daemon was
// down are not replayed: cron only looks forward from now. What a firing
// does — start a backup, or record why it was skipped — is the caller's.
package schedule

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/settings"

	// Time zone data in the binary, so schedules work in a FROM-scratch image.
	_ "time/tzdata"
)

// The schedules.
const (
	Incremental = "incremental"
	Full        = "full"
)

// Scheduler fires the installed schedules.
type Scheduler struct {
	c    *cron.Cron
	loc  *time.Location
	log  *zap.Logger
	now  func() time.Time
	fire func(kind string)
	// Skipped counts the firings the caller skipped (a metric).
	Skipped atomic.Int64

	mu      sync.Mutex
	entries []cron.EntryID
	inc     cron.Schedule
	full    cron.Schedule
}

// New returns a scheduler in loc; fire is called with the schedule's kind
// at each firing that is not dropped.
func New(loc *time.Location, log *zap.Logger, now func() time.Time, fire func(kind string)) *Scheduler {
	return &Scheduler{c: cron.New(cron.WithLocation(loc), cron.WithParser(settings.CronParser)), loc: loc, log: log, now: now, fire: fire}
}

// Start starts firing; Stop stops and waits for running firings.
func (s *Scheduler) Start() { s.c.Start() }

func (s *Scheduler) Stop() { <-s.c.Stop().Done() }

// Reload replaces the cron entries with the settings' schedules.
func (s *Scheduler) Reload(set settings.Settings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.entries {
		s.c.Remove(id)
	}
	s.entries, s.inc, s.full = nil, nil, nil
	if !set.Enabled {
		s.log.Info("scheduled backups disabled (setting enabled=false)")
		return
	}
	add := func(kind string, expr *string) cron.Schedule {
		if expr == nil {
			return nil
		}
		sch, err := settings.ParseSchedule(*expr)
		if err != nil {
			s.log.Error("schedule not installed", zap.String("kind", kind), zap.Error(err))
			return nil
		}
		s.entries = append(s.entries, s.c.Schedule(sch, cron.FuncJob(func() { s.Fire(kind) })))
		s.log.Info("backup schedule installed", zap.String("kind", kind), zap.String("cron", *expr), zap.String("tz", s.loc.String()))
		return sch
	}
	s.inc = add(Incremental, set.IncrementalSchedule)
	if set.FullBackupEnabled {
		s.full = add(Full, set.FullBackupSchedule)
	}
}

// Fire runs one firing of a schedule now, as cron does: an incremental
// firing in a minute the full schedule fires too is dropped.
func (s *Scheduler) Fire(kind string) {
	if kind == Incremental {
		s.mu.Lock()
		full := s.full
		s.mu.Unlock()
		minute := s.now().In(s.loc).Truncate(time.Minute)
		if full != nil && full.Next(minute.Add(-time.Second)).Equal(minute) {
			s.log.Info("scheduled incremental backup dropped: the full backup scheduled for the same minute covers it")
			return
		}
	}
	s.fire(kind)
}

// Next are the next firings of the installed schedules after now (nil: not installed).
func (s *Scheduler) Next(now time.Time) (incremental, full *time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.In(s.loc)
	if s.inc != nil {
		t := s.inc.Next(now)
		incremental = &t
	}
	if s.full != nil {
		t := s.full.Next(now)
		full = &t
	}
	return incremental, full
}
