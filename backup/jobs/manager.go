package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/recovery"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/nonnil"
	"github.com/dockpack/dockpack/internal/owner"

	"go.uber.org/zap"
)

// Engine is what the manager needs from the engine (*dockerapi.Client
// satisfies it): a backup's Engine, plus starting containers again during
// recovery.
type Engine interface {
	backup.Engine
	backup.RecoverEngine
}

// Manager runs backup jobs one at a time across every process sharing its
// state DB, records them, and serves their state. Its methods are safe for
// concurrent use.
type Manager struct {
	cfg    Config
	log    *zap.Logger
	db     *statedb.DB
	id     owner.Identity
	pinned map[string]bool
	tick   time.Duration

	base       context.Context // lives until Close has waited for the jobs
	baseCancel context.CancelFunc

	startMu sync.Mutex // serializes Start in this process; guards closed (see enter)
	closed  bool

	mu   sync.Mutex
	runs map[int64]*jobRun // jobs this process runs (or whose Run is unwinding)

	wg    sync.WaitGroup // starts, job goroutines, drills, verifications, real restores (enter)
	sched *scheduler
	rec   *recovery.Recoverer // ends what dead owners left

	holdMu sync.Mutex
	holds  map[string]context.CancelCauseFunc // operations holding the lock through holdLease (Hold), canceled by Close
}

// NewManager opens (creating and migrating) the state DB, stores the initial
// and pinned settings, recovers jobs left unfinished by dead processes, and
// starts the scheduler.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	db, err := statedb.Open(ctx, cfg.StateDir, cfg.BusyTimeout, cfg.PoolSize)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:    cfg,
		log:    cfg.Logger.Named("jobs"),
		db:     db,
		id:     owner.Identity{Token: owner.NewToken(), Host: cfg.Host, PID: cfg.PID, ProcStart: cfg.ProcStart},
		pinned: map[string]bool{},
		runs:   map[int64]*jobRun{},
		holds:  map[string]context.CancelCauseFunc{},
	}
	for _, p := range cfg.Pinned {
		m.pinned[p] = true
	}
	m.rec = &recovery.Recoverer{DB: db, Engine: cfg.Engine, Owner: m.id, Judge: m.judgeLease, Target: m.targetDir, Ended: m.recovered,
		Lang: cfg.Lang, Log: m.log, Now: cfg.Now, EventsPerJob: cfg.EventsPerJob, StagingDir: cfg.StagingDir,
		StatTimeout: cfg.StatTimeout, Timeout: cfg.RecoveryTimeout}
	m.tick = min(cfg.PersistInterval, cfg.LeaseDuration/3, cfg.CancelGrace/4, cfg.StallTimeout/4)
	m.tick = max(m.tick, 5*time.Millisecond)
	m.base, m.baseCancel = context.WithCancel(context.WithoutCancel(ctx))
	fail := func(err error) (*Manager, error) {
		m.baseCancel()
		db.Close()
		return nil, err
	}
	if err := m.initSettings(ctx); err != nil {
		return fail(err)
	}
	if err := m.rec.AtStart(ctx); err != nil {
		return fail(fmt.Errorf("recovery at start-up: %w", err))
	}
	if !cfg.DisableScheduler {
		m.sched = newScheduler(m)
		s, err := m.loadSettings(ctx)
		if err != nil {
			return fail(err)
		}
		m.sched.Reload(s)
		m.sched.Start()
	}
	m.log.Info("job manager ready", zap.String("state_db", db.Path()), zap.String("owner", m.id.String()),
		zap.Duration("lease", cfg.LeaseDuration), zap.Duration("stall_timeout", cfg.StallTimeout))
	return m, nil
}

func (m *Manager) isRunning(id int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.runs[id]
	return ok
}

// liveRuns is a copy of the runs this process has in flight.
func (m *Manager) liveRuns() map[int64]*jobRun {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.runs)
}

func (m *Manager) liveRun(id int64) *jobRun {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs[id]
}

// dbCtx is the context of the manager's own writes (final states, lease
// renewal): not the request's, and not the job's (which is canceled).
func (m *Manager) dbCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.base, 4*m.cfg.BusyTimeout)
}

// Start takes the lease lock and starts a backup. While a live lease is held
// it returns a *BusyError (matching ErrBusy) naming the holder's job. Spec
// problems (no target or project configured, a component that needs a
// setting not given) fail with an error wrapping ErrInvalidSpec before any
// job exists; a full backup while full backups are disabled fails with an
// error wrapping ErrInvalidSettings. Mount, space and engine prechecks run
// inside the job: their failure is a failed job with an error code.
func (m *Manager) Start(ctx context.Context, req Request) (Job, error) {
	m.startMu.Lock() // held throughout: starts in this process are serialized
	defer m.startMu.Unlock()
	done, err := m.enterLocked()
	if err != nil {
		return Job{}, err
	}
	defer done()
	set, err := m.loadSettings(ctx)
	if err != nil {
		return Job{}, err
	}
	spec, kind, err := m.buildSpec(ctx, set, req)
	if err != nil {
		return Job{}, err
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = "manual"
	}
	now := m.cfg.Now()
	nowMs := now.UnixMilli()
	job := Job{Kind: kind, Status: StatusRunning, CreatedAtMs: nowMs, StartedAtMs: &nowMs, HeartbeatAtMs: &nowMs,
		Message: ptr(m.tr("job.starting")), Project: spec.Project, Components: slices.Clone(spec.Components), Trigger: trigger,
		VerificationStatus: VerificationNotVerified}
	m.awaitEnding(ctx)
	var (
		ls        lease
		recovered []statedb.Job
		takeover  string
	)
	err = m.db.Write(ctx, func(tx *statedb.Tx) error {
		var err error
		ls, recovered, takeover, err = m.takeLease(tx, now, m.id.Token, "", func() (int64, error) {
			return tx.InsertJob(jobRecord(job, spec.Target, m.id))
		})
		return err
	})
	if err != nil {
		var be *BusyError
		if !errors.As(err, &be) {
			m.log.Error("cannot start backup job", zap.Error(err))
		}
		return Job{}, err
	}
	job.ID = ls.JobID
	jr := m.newJobRun(job, ls, spec, now)
	if takeover != "" {
		jr.logk("warn", "job.log.took_over", takeover)
	}
	m.mu.Lock()
	m.runs[job.ID] = jr
	m.mu.Unlock()
	started := jr.snapshot() // as started: the run may report progress at once
	m.wg.Add(2)              // the run's goroutines, admitted with this start
	go jr.monitor()
	go jr.run(recovered)
	m.log.Info("backup job started", zap.Int64("job_id", job.ID), zap.String("kind", string(kind)), zap.String("trigger", trigger),
		zap.String("project", spec.Project), zap.String("target", spec.Target))
	return started, nil
}

// enter admits an operation Close must wait for (a start, a drill, a
// verification, a real restore): ErrClosed once Close began, else it is
// counted in the wait group Close waits for until done is called.
func (m *Manager) enter() (done func(), err error) {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	return m.enterLocked()
}

// enterLocked is enter with startMu held by the caller.
func (m *Manager) enterLocked() (done func(), err error) {
	if m.closed {
		return nil, ErrClosed
	}
	m.wg.Add(1)
	return m.wg.Done, nil
}

// Get returns a job. For a job this process runs, the live progress (newer
// than the last persisted one) is shown. It never waits for a running backup.
func (m *Manager) Get(ctx context.Context, id int64) (Job, error) {
	// Look for the live run BEFORE reading the row: a run that ends between
	// the two would otherwise leave a row read before its final write with
	// no live view over it, and progress would appear to go backwards.
	jr := m.liveRun(id)
	var job Job
	err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		row, err := tx.Job(id)
		job = jobOf(row)
		return err
	})
	if err != nil {
		return Job{}, err
	}
	if jr != nil {
		jr.overlay(&job)
	}
	return job, nil
}

// List returns jobs newest first; Limit is clamped to 1..200 (0: 30).
func (m *Manager) List(ctx context.Context, o ListOptions) ([]Job, error) {
	live := m.liveRuns() // before the read: see Get
	var out []Job
	err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		rows, err := tx.Jobs(o.limit(), string(o.Status))
		for _, r := range rows {
			j := jobOf(r)
			if jr := live[j.ID]; jr != nil {
				jr.overlay(&j)
			}
			out = append(out, j)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return nonnil.Slice(out), nil
}

// Cancel asks a job to stop and returns it. The job becomes canceling at
// once (cancel_requested_at_ms and cancel_reason are stored) and canceled
// when its backup has unwound — within CancelGrace at the latest, even if the
// engine goes on exporting; the lock stays held until the backup returns.
// Canceling a job that already ended returns it unchanged (idempotent, no
// error). A job run by another process sharing the state DB is canceled by
// that process (it polls for the request); a job nobody runs any more is
// ended as canceled at once and its leftovers cleaned up.
func (m *Manager) Cancel(ctx context.Context, id int64, reason string) (Job, error) {
	if reason == "" {
		reason = "canceled by request"
	}
	nowMs := m.cfg.Now().UnixMilli()
	var (
		orphan  *statedb.Job
		changed bool
		ended   bool
	)
	err := m.db.Write(ctx, func(tx *statedb.Tx) error {
		row, err := tx.Job(id)
		if err != nil {
			return err
		}
		if !Status(row.Status).Active() {
			ended = true
			return nil
		}
		if Status(row.Status) != StatusCanceling {
			if changed, err = tx.RequestCancel(id, nowMs, reason); err != nil {
				return err
			}
			if err := tx.InsertEvents(id, []statedb.Event{{AtMs: nowMs, Level: "warn", Message: "cancel requested: " + reason}}, m.cfg.EventsPerJob); err != nil {
				return err
			}
		}
		if m.isRunning(id) {
			return nil
		}
		l, err := tx.Lock()
		if err != nil {
			return err
		}
		if l != nil && l.JobID == id {
			if live, _ := m.judgeLease(l, m.cfg.Now()); live {
				return nil // its owner polls for the request
			}
			if _, err := tx.ReleaseLock(l.OwnerToken, id); err != nil {
				return err
			}
		}
		// Nobody runs it: end it now.
		if err := tx.EndCanceled(id, nowMs, m.tr("job.canceled", reason),
			fmt.Sprintf("canceled by request (%s); no live process was running it any more", reason)); err != nil {
			return err
		}
		orphan = &row
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	if ended {
		return m.Get(ctx, id)
	}
	if jr := m.liveRun(id); jr != nil {
		jr.requestStop(stopUser, fmt.Errorf("%w: %s", context.Canceled, reason), reason)
	} else if orphan != nil {
		m.cleanupRecovered(ctx, []statedb.Job{*orphan}, nil)
	}
	if changed {
		m.log.Info("backup job cancel requested", zap.Int64("job_id", id), zap.String("reason", reason))
	}
	return m.Get(ctx, id)
}

// JobLog returns the recent log lines of a job, oldest first.
func (m *Manager) JobLog(ctx context.Context, id int64) ([]LogLine, error) {
	var lines []LogLine
	err := m.db.ReadTx(ctx, func(tx *statedb.Tx) error {
		if _, err := tx.Job(id); err != nil {
			return err
		}
		evs, err := tx.Events(id)
		lines = logLines(evs)
		return err
	})
	if err != nil {
		return nil, err
	}
	if jr := m.liveRun(id); jr != nil {
		lines = append(lines, jr.pendingLogs()...)
		if over := len(lines) - m.cfg.EventsPerJob; over > 0 {
			lines = lines[over:]
		}
	}
	return lines, nil
}

// Packs lists the packs in the configured target directory (ListPacks).
func (m *Manager) Packs(ctx context.Context) ([]pack.Info, error) {
	s, err := m.loadSettings(ctx)
	if err != nil {
		return nil, err
	}
	if s.TargetLocalDir == "" {
		return nil, fmt.Errorf("%w: local_backup_target_not_configured: no backup target directory is configured (settings target_local_dir)", backup.ErrInvalidSpec)
	}
	packs, err := listTarget(ctx, s) // s3.go
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the target directory %s does not exist: is the share mounted? (dockpack doctor checks it)", ErrTargetMissing, s.TargetLocalDir)
	}
	if err != nil {
		return nil, err
	}
	return nonnil.Slice(packs), nil
}

// Close stops the scheduler and refuses new jobs; then it cancels the
// running job (reason "daemon shutting down"), or with WaitOnClose waits for
// it, and closes the state DB. If ctx ends first, the running job is canceled
// and Close returns ctx's error; whatever the job could not write is
// recovered at the next start.
func (m *Manager) Close(ctx context.Context) error {
	m.startMu.Lock()
	if m.closed {
		m.startMu.Unlock()
		return nil
	}
	m.closed = true
	m.startMu.Unlock()
	if m.sched != nil {
		m.sched.Stop()
	}
	stopAll := func() {
		m.mu.Lock()
		runs := make([]*jobRun, 0, len(m.runs))
		for _, jr := range m.runs {
			runs = append(runs, jr)
		}
		m.mu.Unlock()
		for _, jr := range runs {
			jr.requestStop(stopShutdown, fmt.Errorf("%w: the daemon is shutting down", context.Canceled), "daemon shutting down")
		}
		m.cancelHolds(fmt.Errorf("%w: the daemon is shutting down", context.Canceled))
	}
	if !m.cfg.WaitOnClose {
		stopAll()
	}
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		stopAll()
		err = fmt.Errorf("closing the job manager: %w (the running job was canceled; recovery finishes it at the next start)", ctx.Err())
	}
	m.baseCancel()
	if cerr := m.db.Close(); cerr != nil && err == nil {
		err = cerr
	}
	m.log.Info("job manager closed")
	return err
}

// cleanupRecovered cleans up after the jobs a takeover recovered (see
// package recovery); note (may be nil) receives a line per action.
func (m *Manager) cleanupRecovered(ctx context.Context, jobs []statedb.Job, note func(level, msg string)) {
	m.rec.Cleanup(ctx, jobs, note)
}

// targetDir is the configured target directory ("" when none or unreadable).
func (m *Manager) targetDir(ctx context.Context) string {
	s, _ := m.loadSettings(ctx) // zero on error
	return s.TargetLocalDir
}

// recovered reports a job recovery ended to OnJobEnd.
func (m *Manager) recovered(ctx context.Context, id int64) {
	if job, err := m.Get(ctx, id); err == nil {
		m.jobEnded(job)
	}
}

// jobEnded reports a finished job to OnJobEnd.
func (m *Manager) jobEnded(j Job) {
	if m.cfg.OnJobEnd == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("OnJobEnd panicked", zap.Any("panic", r))
		}
	}()
	m.cfg.OnJobEnd(j)
}

// Config is the Manager's configuration, with the defaults applied: what
// the operations run beside its jobs share (staging, language, clock,
// hooks, logger).
func (m *Manager) Config() Config { return m.cfg }

// tr is a job message in the configured language.
func (m *Manager) tr(key string, args ...any) string { return i18n.T(m.cfg.Lang, key, args...) }

// endingWait bounds how long Start waits for this process's jobs whose end
// is recorded to release the lock.
const endingWait = 5 * time.Second

// awaitEnding waits (at most endingWait, or until ctx ends) while a job of
// this process has its end recorded but still holds the lock — the moment
// between its final record and the lock's release — so a client that saw
// a job end and starts the next at once is not told the lock is busy.
func (m *Manager) awaitEnding(ctx context.Context) {
	deadline := time.Now().Add(endingWait)
	for m.ending() && ctx.Err() == nil && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// ending reports whether a run of this process has its end recorded and
// has not released the lock yet.
func (m *Manager) ending() bool {
	m.mu.Lock()
	runs := make([]*jobRun, 0, len(m.runs))
	for _, jr := range m.runs {
		runs = append(runs, jr)
	}
	m.mu.Unlock()
	for _, jr := range runs {
		jr.mu.Lock()
		f := jr.finalized
		jr.mu.Unlock()
		if f {
			return true
		}
	}
	return false
}
