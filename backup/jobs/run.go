package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/logsink"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Why a running job is being stopped.
type stopKind int

const (
	stopNone     stopKind = iota
	stopUser              // Cancel
	stopShutdown          // Close without WaitOnClose
	stopStall             // watchdog
	stopLease             // lease lost (taken over) or job ended by another process
)

// jobRun is one job this process runs: the backup goroutine (run) and its
// monitor (lease renewal, progress persistence, watchdog, cancel grace).
type jobRun struct {
	m      *Manager
	id     int64
	lease  lease
	spec   backup.Spec
	ctx    context.Context
	cancel context.CancelCauseFunc

	runDone chan struct{} // closed when Run (and retention) returned
	wake    chan struct{} // cap 1: the monitor should look now

	mu          sync.Mutex
	job         Job // live view: progress, step, message, bytes, status
	lastProg    *progress.Report
	dirty       bool // progress not yet persisted
	force       bool // persist at the next look (a step changed)
	logs        []LogLine
	leaseExpiry time.Time
	leaseLost   bool

	// watchdog
	watching  bool
	actStep   progress.Step
	actItem   string
	actMsg    string
	lastAct   time.Time
	sawByte   bool
	stepTotal int64

	// stopping and ending
	stopKind  stopKind
	stopCause error
	stopAt    time.Time
	finalized bool
	finalJob  *Job
	subs      map[*subscriber]struct{}
}

func (m *Manager) newJobRun(job Job, ls lease, spec backup.Spec, now time.Time) *jobRun {
	ctx, cancel := context.WithCancelCause(context.WithValue(m.base, jobIDKey{}, job.ID))
	jr := &jobRun{
		m: m, id: job.ID, lease: ls, ctx: ctx, cancel: cancel,
		runDone: make(chan struct{}), wake: make(chan struct{}, 1),
		job: job, leaseExpiry: now.Add(m.cfg.LeaseDuration), subs: map[*subscriber]struct{}{},
	}
	spec.Hooks = jr.hooks(m.cfg.Hooks)
	spec.Owner = m.id
	core := zapcore.NewTee(m.cfg.Logger.Core(), &logsink.Core{LevelEnabler: zapcore.InfoLevel, Sink: jr.addLog, Drop: []string{"job_id", "project"}})
	spec.Logger = zap.New(core).With(zap.Int64("job_id", job.ID))
	jr.spec = spec
	return jr
}

func (jr *jobRun) signal() {
	select {
	case jr.wake <- struct{}{}:
	default:
	}
}

// run is the job's backup goroutine.
func (jr *jobRun) run(recovered []statedb.Job) {
	m := jr.m
	defer m.wg.Done()
	defer close(jr.runDone)
	if len(recovered) > 0 {
		m.cleanupRecovered(m.base, recovered, func(level, msg string) { jr.logf(level, "%s", msg) })
	}
	jr.mu.Lock()
	jr.watching, jr.lastAct = true, time.Now()
	jr.mu.Unlock()

	res, err := jr.callRun()

	jr.mu.Lock()
	jr.watching = false
	finalized := jr.finalized
	jr.mu.Unlock()
	if err == nil && res == nil {
		err = errors.New("the backup returned neither a result nor an error (a bug)")
	}
	if err == nil && !finalized {
		jr.retention(res)
		jr.copyPack(res)
	}
	jr.finish(res, err)
}

func (jr *jobRun) callRun() (res *backup.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the backup panicked: %v", r)
			jr.m.log.Error("backup panicked", zap.Int64("job_id", jr.id), zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	return jr.m.cfg.Run(jr.ctx, jr.spec, jr.onProgress)
}

// requestStop cancels the backup with cause; the first stop wins.
func (jr *jobRun) requestStop(kind stopKind, cause error, reason string) {
	jr.mu.Lock()
	if jr.stopKind != stopNone || jr.finalized {
		jr.mu.Unlock()
		return
	}
	jr.stopKind, jr.stopCause, jr.stopAt = kind, cause, time.Now()
	if kind == stopUser || kind == stopShutdown {
		now := jr.m.cfg.Now().UnixMilli()
		jr.job.Status = StatusCanceling
		if jr.job.CancelRequestedAtMs == nil {
			jr.job.CancelRequestedAtMs = &now
			jr.job.CancelReason = &reason
		}
	}
	jr.mu.Unlock()
	if kind == stopShutdown {
		ctx, cancel := jr.m.dbCtx()
		_ = jr.m.db.Write(ctx, func(tx *statedb.Tx) error {
			return tx.RequestCancelOwned(jr.id, jr.lease.Token, jr.m.cfg.Now().UnixMilli(), reason)
		})
		cancel()
	}
	level := "warn"
	if kind == stopStall || kind == stopLease {
		level = "error"
	}
	jr.logk(level, "job.log.stopping", cause)
	jr.cancel(cause)
	jr.signal()
}

// outcome is the final state of the job for the way it ended.
func (jr *jobRun) outcome(kind stopKind, cause error, res *backup.Result, runErr error, unwinding bool) statedb.Final {
	now := jr.m.cfg.Now()
	jr.mu.Lock()
	f := statedb.Final{Progress: jr.job.Progress, BytesDone: jr.job.BytesDone, BytesTotal: jr.job.BytesTotal, FinishedAtMs: now.UnixMilli(), Step: jr.job.Step}
	step := progress.StepPrecheck
	if jr.job.Step != nil {
		step = progress.Step(*jr.job.Step)
	}
	reason := ""
	if jr.job.CancelReason != nil {
		reason = *jr.job.CancelReason
	}
	jr.mu.Unlock()
	still := ""
	if unwinding {
		still = fmt.Sprintf("; the backup had not unwound after %s (the engine may still be exporting), the lock stays held until it has", jr.m.cfg.CancelGrace)
	}
	switch {
	case runErr == nil && res != nil && !unwinding:
		f.Status, f.Progress = string(StatusCompleted), 100
		f.Message = jr.m.tr("job.complete", res.Name, units.BytesSize(float64(res.Bytes)))
		if kind == stopUser || kind == stopShutdown {
			f.Message = jr.m.tr("job.complete_late", res.Name, units.BytesSize(float64(res.Bytes)))
		}
		f.OutputDir, f.PackageHash, f.PackName = ptr(res.Pack), ptr(res.PackageHash), ptr(res.Name)
		f.BytesDone = max(f.BytesDone, res.Bytes)
		f.StoreStats = storeStatsJSON(res.Store)
		f.Encryption = encryptionJSON(encryptionOf(res))
	case kind == stopUser || kind == stopShutdown:
		ms := now.UnixMilli()
		f.Status, f.CanceledAtMs, f.ErrorCode = string(StatusCanceled), &ms, ptr("canceled")
		f.Message = jr.m.tr("job.canceled", reason)
		f.Detail = ptr(fmt.Sprintf("canceled during step %s (%s)%s", step, reason, still))
	case kind == stopStall || kind == stopLease:
		f.Status, f.ErrorCode = string(StatusFailed), ptr(backup.ErrorCode(cause))
		f.Message = jr.m.tr("job.failed", step, backup.ErrorCode(cause))
		f.Detail = ptr(cause.Error() + still)
	default:
		if s := backup.FailedStep(runErr); s != "" {
			step = s
			f.Step = ptr(string(s))
		}
		code := backup.ErrorCode(runErr)
		f.Status, f.ErrorCode = string(StatusFailed), ptr(code)
		f.Message = jr.m.tr("job.failed", step, code)
		f.Detail = ptr(runErr.Error())
	}
	return f
}

// finish ends the job after Run returned.
func (jr *jobRun) finish(res *backup.Result, runErr error) {
	jr.mu.Lock()
	kind, cause, finalized := jr.stopKind, jr.stopCause, jr.finalized
	jr.mu.Unlock()
	if finalized {
		if runErr == nil && res != nil {
			jr.logf("warn", "the backup finished after the job had ended; its pack %s is kept (retention will count it)", res.Pack)
		} else {
			jr.logf("info", "the backup has unwound: %v", runErr)
		}
		return
	}
	jr.writeFinal(jr.outcome(kind, cause, res, runErr, false))
}

// writeFinal stores the job's end (once) and tells subscribers and OnJobEnd.
func (jr *jobRun) writeFinal(f statedb.Final) {
	m := jr.m
	jr.mu.Lock()
	if jr.finalized {
		jr.mu.Unlock()
		return
	}
	jr.finalized = true
	logs := jr.logs
	jr.logs = nil
	jr.mu.Unlock()

	ctx, cancel := m.dbCtx()
	defer cancel()
	var changed bool
	err := m.db.Write(ctx, func(tx *statedb.Tx) error {
		if err := tx.InsertEvents(jr.id, events(logs), m.cfg.EventsPerJob); err != nil {
			return err
		}
		var err error
		changed, err = tx.FinishJob(jr.id, jr.lease.Token, f)
		return err
	})
	if err != nil {
		m.log.Error("cannot store the end of a backup job; recovery will mark it interrupted", zap.Int64("job_id", jr.id), zap.Error(err))
	}
	job, gerr := m.Get(ctx, jr.id)
	if gerr != nil || err != nil {
		job = jr.snapshot()
		job.Status, job.Message, job.Detail, job.ErrorCode = Status(f.Status), &f.Message, f.Detail, f.ErrorCode
		job.FinishedAtMs, job.CanceledAtMs = &f.FinishedAtMs, f.CanceledAtMs
		job.OutputDir, job.PackageHash, job.PackName = f.OutputDir, f.PackageHash, f.PackName
		job.Progress = max(job.Progress, f.Progress)
	}
	jr.mu.Lock()
	jr.job = job
	jr.finalJob = &job
	jr.broadcastLocked(Event{Type: "final", JobID: jr.id, Job: &job})
	jr.subs = map[*subscriber]struct{}{}
	jr.mu.Unlock()
	if changed {
		code := ""
		if job.ErrorCode != nil {
			code = *job.ErrorCode
		}
		m.log.Info("backup job ended", zap.Int64("job_id", jr.id), zap.String("status", string(job.Status)), zap.String("code", code))
		m.jobEnded(job)
	} else if err == nil {
		m.log.Warn("backup job was already ended by another process (recovery after a takeover); its outcome is kept",
			zap.Int64("job_id", jr.id), zap.String("status", string(job.Status)))
	}
}

type jobIDKey struct{}

// JobIDFrom returns the id of the job whose backup ctx belongs to: hooks
// (Config.Hooks) and a custom Config.Run learn which job they serve.
func JobIDFrom(ctx context.Context) (int64, bool) {
	id, ok := ctx.Value(jobIDKey{}).(int64)
	return id, ok
}
