package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"zombiezen.com/go/sqlite"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
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
	token  string
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

	// partial pack directory bookkeeping
	partialsBefore map[string]bool
	partialsDone   bool
}

func (m *Manager) newJobRun(row jobRow, spec backup.Spec, now time.Time) *jobRun {
	ctx, cancel := context.WithCancelCause(m.base)
	jr := &jobRun{
		m: m, id: row.ID, token: m.id.Token, ctx: ctx, cancel: cancel,
		runDone: make(chan struct{}), wake: make(chan struct{}, 1),
		job: row.Job, leaseExpiry: now.Add(m.cfg.LeaseDuration), subs: map[*subscriber]struct{}{},
	}
	jr.job.ID = row.ID
	spec.Hooks = jr.hooks(m.cfg.Hooks)
	core := zapcore.NewTee(m.cfg.Logger.Core(), &jobLogCore{LevelEnabler: zapcore.InfoLevel, sink: jr.addLog})
	spec.Logger = zap.New(core).With(zap.Int64("job_id", row.ID))
	jr.spec = spec
	return jr
}

func (jr *jobRun) signal() {
	select {
	case jr.wake <- struct{}{}:
	default:
	}
}

// snapshot is the live view of the job.
func (jr *jobRun) snapshot() Job {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.finalJob != nil {
		return *jr.finalJob
	}
	return jr.job
}

// overlay puts the live progress over a job read from the DB, as long as
// the DB still shows it active.
func (jr *jobRun) overlay(j *Job) {
	if !j.Status.Active() {
		return
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	// Also while the final state is being written: the DB row read may
	// predate it, and progress must not appear to go backwards.
	j.Progress = max(j.Progress, jr.job.Progress)
	j.BytesDone = max(j.BytesDone, jr.job.BytesDone)
	if jr.job.BytesTotal > 0 {
		j.BytesTotal = jr.job.BytesTotal
	}
	if jr.job.Step != nil {
		j.Step = jr.job.Step
	}
	if jr.job.Message != nil {
		j.Message = jr.job.Message
	}
	if jr.job.HeartbeatAtMs != nil && (j.HeartbeatAtMs == nil || *jr.job.HeartbeatAtMs > *j.HeartbeatAtMs) {
		j.HeartbeatAtMs = jr.job.HeartbeatAtMs
	}
}

// addLog records a job log line (persisted with the next progress write)
// and sends it to subscribers.
func (jr *jobRun) addLog(level, msg string) {
	jr.mu.Lock()
	jr.addLogLocked(level, msg)
	jr.mu.Unlock()
}

func (jr *jobRun) addLogLocked(level, msg string) {
	l := LogLine{AtMs: jr.m.cfg.Now().UnixMilli(), Level: level, Message: msg}
	jr.logs = append(jr.logs, l)
	if over := len(jr.logs) - jr.m.cfg.EventsPerJob; over > 0 {
		jr.logs = jr.logs[over:]
	}
	jr.broadcastLocked(Event{Type: "log", JobID: jr.id, Log: &l})
}

// logk logs a catalog message (in the configured language).
func (jr *jobRun) logk(level, key string, args ...any) {
	jr.logf(level, "%s", jr.m.tr(key, args...))
}

// logf logs to the manager's logger and to the job's log.
func (jr *jobRun) logf(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		lvl = zapcore.InfoLevel
	}
	if ce := jr.m.log.Check(lvl, msg); ce != nil {
		ce.Write(zap.Int64("job_id", jr.id))
	}
	jr.addLog(level, msg)
}

func (jr *jobRun) pendingLogs() []LogLine {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	return append([]LogLine(nil), jr.logs...)
}

func (jr *jobRun) broadcastLocked(ev Event) {
	for s := range jr.subs {
		s.push(ev)
	}
}

// onProgress is the ProgressFunc given to Run. It never blocks on I/O.
func (jr *jobRun) onProgress(p progress.Report) {
	now := time.Now()
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.finalized {
		return
	}
	p.Percent = max(p.Percent, jr.job.Progress)
	p.Percent = min(p.Percent, 100)
	jr.job.Progress = p.Percent
	stepChanged := p.Step != jr.actStep
	itemChanged := stepChanged || p.Item != jr.actItem
	if itemChanged {
		jr.actStep, jr.actItem = p.Step, p.Item
		jr.lastAct, jr.sawByte, jr.stepTotal = now, false, p.StepTotal
	}
	if p.BytesDone > jr.job.BytesDone {
		jr.job.BytesDone = p.BytesDone
		jr.lastAct = now
		if !itemChanged {
			jr.sawByte = true
		}
	}
	p.BytesDone = jr.job.BytesDone
	if p.Message != jr.actMsg {
		jr.actMsg = p.Message
		jr.lastAct = now
	}
	jr.job.Step = ptr(string(p.Step))
	jr.job.Message = ptr(p.Message)
	if p.BytesTotal > 0 {
		jr.job.BytesTotal = p.BytesTotal
	}
	jr.dirty = true
	cp := p
	jr.lastProg = &cp
	if itemChanged {
		what := string(p.Step)
		if p.Item != "" {
			what += " (" + p.Item + ")"
		}
		jr.addLogLocked("info", "step "+what+": "+p.Message)
	}
	jr.broadcastLocked(Event{Type: "progress", JobID: jr.id, Progress: &cp})
	if stepChanged {
		jr.force = true
		jr.signal()
	}
}

// hooks merges the manager's seams with the configured ones.
func (jr *jobRun) hooks(user backup.Hooks) backup.Hooks {
	m := jr.m
	h := user
	h.BeforeStep = func(ctx context.Context, step progress.Step) error {
		if step != progress.StepPrecheck {
			jr.notePartials(ctx)
		}
		if user.BeforeStep != nil {
			return user.BeforeStep(ctx, step)
		}
		return nil
	}
	h.BeforeStop = func(ctx context.Context, cs []dockerapi.Container) error {
		dctx, cancel := m.dbCtx()
		defer cancel()
		if err := m.st.write(dctx, func(conn *sqlite.Conn) error {
			return recordStopped(conn, jr.id, cs, m.cfg.Now().UnixMilli())
		}); err != nil {
			return fmt.Errorf("recording the containers to stop in the state DB failed, so none was stopped: %w", err)
		}
		jr.logk("info", "job.log.stop_recorded", containerNames(cs))
		if user.BeforeStop != nil {
			return user.BeforeStop(ctx, cs)
		}
		return nil
	}
	h.BeforeRestart = func(ctx context.Context, cs []dockerapi.Container) error {
		// A resumed process whose lease was taken over must not start
		// containers the new owner may have stopped for its own copy: the new
		// owner's recovery has already started them.
		dctx, cancel := m.dbCtx()
		defer cancel()
		var owner bool
		err := m.st.read(dctx, func(conn *sqlite.Conn) error {
			l, err := readLock(conn)
			owner = err == nil && l != nil && l.OwnerToken == jr.token && l.JobID == jr.id
			return err
		})
		if err == nil && !owner {
			jr.logk("warn", "job.log.restart_skipped", containerNames(cs))
			return fmt.Errorf("%w: job %d", backup.ErrLeaseLost, jr.id)
		}
		if user.BeforeRestart != nil {
			return user.BeforeRestart(ctx, cs)
		}
		return nil
	}
	h.AfterRestart = func(ctx context.Context, cs []dockerapi.Container, err error) {
		if err == nil {
			dctx, cancel := m.dbCtx()
			werr := m.st.write(dctx, func(conn *sqlite.Conn) error {
				return markRestarted(conn, jr.id, cs, m.cfg.Now().UnixMilli())
			})
			cancel()
			if werr != nil {
				jr.logk("warn", "job.log.restart_unrecorded", containerNames(cs), werr)
			} else {
				jr.logk("info", "job.log.restarted", containerNames(cs))
			}
		} else {
			jr.logk("error", "job.log.restart_failed", containerNames(cs), err)
		}
		if user.AfterRestart != nil {
			user.AfterRestart(ctx, cs, err)
		}
	}
	return h
}

func containerNames(cs []dockerapi.Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
		if names[i] == "" {
			names[i] = c.ID
		}
	}
	return strings.Join(names, ", ")
}

// snapshotPartials remembers the partial pack directories present before Run.
func (jr *jobRun) snapshotPartials(ctx context.Context) {
	before := map[string]bool{}
	ents, err := readDirNamesBounded(ctx, jr.spec.Target, jr.m.cfg.StatTimeout)
	if err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), pack.PartialPrefix) {
				before[e.Name()] = true
			}
		}
	}
	jr.mu.Lock()
	jr.partialsBefore = before
	jr.mu.Unlock()
}

// notePartials records the partial pack directory this job's Run created
// (the new .partial-* entries of the target), so that recovery can remove it
// if this process dies.
func (jr *jobRun) notePartials(ctx context.Context) {
	jr.mu.Lock()
	if jr.partialsDone {
		jr.mu.Unlock()
		return
	}
	before := jr.partialsBefore
	jr.mu.Unlock()
	ents, err := readDirNamesBounded(ctx, jr.spec.Target, jr.m.cfg.StatTimeout)
	if err != nil {
		return
	}
	var mine []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), pack.PartialPrefix) && !before[e.Name()] {
			mine = append(mine, filepath.Join(jr.spec.Target, e.Name()))
		}
	}
	if len(mine) == 0 {
		return
	}
	dctx, cancel := jr.m.dbCtx()
	defer cancel()
	if err := jr.m.st.write(dctx, func(conn *sqlite.Conn) error { return recordPartials(conn, jr.id, mine) }); err != nil {
		jr.logf("warn", "cannot record the partial pack directory in the state DB: %v", err)
		return
	}
	jr.mu.Lock()
	jr.partialsDone = true
	jr.mu.Unlock()
}

// run is the job's backup goroutine.
func (jr *jobRun) run(recovered []jobRow) {
	m := jr.m
	defer m.wg.Done()
	defer close(jr.runDone)
	if len(recovered) > 0 {
		m.cleanupRecovered(m.base, recovered, func(level, msg string) { jr.logf(level, "%s", msg) })
	}
	jr.snapshotPartials(jr.ctx)
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

// retention prunes old packs after a successful backup; it never fails the job.
func (jr *jobRun) retention(res *backup.Result) {
	m := jr.m
	ctx, cancel := context.WithTimeout(m.base, m.cfg.RecoveryTimeout)
	defer cancel()
	s, err := m.loadSettings(ctx)
	if err != nil {
		jr.logk("warn", "job.log.retention_skip", err)
		return
	}
	type out struct {
		r   pack.PruneResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := pack.Prune(ctx, pack.PruneOptions{Target: jr.spec.Target, Project: jr.spec.Project, Keep: s.BackupRetentionMax,
			PartialOlderThan: m.cfg.PartialMaxAge, LiveWithin: m.cfg.PartialMaxAge, Protect: []string{res.Pack}, Logger: m.log.With(zap.Int64("job_id", jr.id)), Now: m.cfg.Now})
		done <- out{r, err}
	}()
	var o out
	select {
	case o = <-done:
	case <-ctx.Done():
		jr.logf("warn", "retention did not finish within %s; it goes on in the background (the backup itself succeeded)", m.cfg.RecoveryTimeout)
		return
	}
	for _, d := range o.r.Deleted {
		jr.logk("info", "job.log.retention", s.BackupRetentionMax, d.Name,
			units.BytesSize(float64(d.Size)), d.CreatedAt.UTC().Format(time.RFC3339))
	}
	if o.err != nil {
		jr.logf("warn", "retention: %v (the backup itself succeeded)", o.err)
	}
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
		_ = jr.m.st.write(ctx, func(conn *sqlite.Conn) error {
			return exec(conn, `UPDATE jobs SET status = 'canceling', cancel_requested_at_ms = COALESCE(cancel_requested_at_ms, ?),
				cancel_reason = COALESCE(cancel_reason, ?) WHERE id = ? AND owner_token = ? AND status IN ('queued', 'running')`,
				jr.m.cfg.Now().UnixMilli(), reason, jr.id, jr.token)
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
func (jr *jobRun) outcome(kind stopKind, cause error, res *backup.Result, runErr error, unwinding bool) finalUpdate {
	now := jr.m.cfg.Now()
	jr.mu.Lock()
	f := finalUpdate{Progress: jr.job.Progress, BytesDone: jr.job.BytesDone, BytesTotal: jr.job.BytesTotal, FinishedAtMs: now.UnixMilli(), Step: jr.job.Step}
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
		f.Status, f.Progress = StatusCompleted, 100
		f.Message = jr.m.tr("job.complete", res.Name, units.BytesSize(float64(res.Bytes)))
		if kind == stopUser || kind == stopShutdown {
			f.Message = jr.m.tr("job.complete_late", res.Name, units.BytesSize(float64(res.Bytes)))
		}
		f.OutputDir, f.PackageHash, f.PackName = ptr(res.Pack), ptr(res.PackageHash), ptr(res.Name)
		f.BytesDone = max(f.BytesDone, res.Bytes)
	case kind == stopUser || kind == stopShutdown:
		ms := now.UnixMilli()
		f.Status, f.CanceledAtMs, f.ErrorCode = StatusCanceled, &ms, ptr("canceled")
		f.Message = jr.m.tr("job.canceled", reason)
		f.Detail = ptr(fmt.Sprintf("canceled during step %s (%s)%s", step, reason, still))
	case kind == stopStall || kind == stopLease:
		f.Status, f.ErrorCode = StatusFailed, ptr(backup.ErrorCode(cause))
		f.Message = jr.m.tr("job.failed", step, backup.ErrorCode(cause))
		f.Detail = ptr(cause.Error() + still)
	default:
		if s := backup.FailedStep(runErr); s != "" {
			step = s
			f.Step = ptr(string(s))
		}
		code := backup.ErrorCode(runErr)
		f.Status, f.ErrorCode = StatusFailed, ptr(code)
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
func (jr *jobRun) writeFinal(f finalUpdate) {
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
	err := m.st.write(ctx, func(conn *sqlite.Conn) error {
		if err := insertEvents(conn, jr.id, logs, m.cfg.EventsPerJob); err != nil {
			return err
		}
		var err error
		changed, err = finishJob(conn, jr.id, jr.token, f)
		return err
	})
	if err != nil {
		m.log.Error("cannot store the end of a backup job; recovery will mark it interrupted", zap.Int64("job_id", jr.id), zap.Error(err))
	}
	job, gerr := m.Get(ctx, jr.id)
	if gerr != nil || err != nil {
		job = jr.snapshot()
		job.Status, job.Message, job.Detail, job.ErrorCode = f.Status, &f.Message, f.Detail, f.ErrorCode
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

// monitor renews the lease, persists progress, runs the watchdog and the
// cancel grace, and releases the lock when Run has returned.
func (jr *jobRun) monitor() {
	m := jr.m
	defer m.wg.Done()
	t := time.NewTicker(m.tick)
	defer t.Stop()
	renewEvery := m.cfg.LeaseDuration / 3
	lastRenew, lastPersist, lastPoll := time.Now(), time.Time{}, time.Now()
	for {
		select {
		case <-jr.runDone:
			jr.persist()
			jr.release()
			return
		case <-t.C:
		case <-jr.wake:
		}
		now := time.Now()
		if now.Sub(lastRenew) >= renewEvery {
			jr.renew()
			lastRenew = now
		}
		jr.mu.Lock()
		force := jr.force
		jr.force = false
		jr.mu.Unlock()
		if force || now.Sub(lastPersist) >= m.cfg.PersistInterval {
			if jr.persist() {
				lastPersist = now
			}
		}
		if now.Sub(lastPoll) >= m.cfg.PersistInterval {
			jr.pollRemote()
			lastPoll = now
		}
		jr.checkStall(now)
		jr.mu.Lock()
		kind, cause, stopAt, finalized := jr.stopKind, jr.stopCause, jr.stopAt, jr.finalized
		jr.mu.Unlock()
		if kind != stopNone && !finalized && now.Sub(stopAt) >= m.cfg.CancelGrace {
			jr.writeFinal(jr.outcome(kind, cause, nil, nil, true))
		}
		if kind != stopNone && now.Sub(stopAt) >= m.cfg.AbandonAfter {
			jr.logk("error", "job.log.abandoned", m.cfg.AbandonAfter)
			jr.persist()
			jr.release()
			return
		}
	}
}

// persist writes pending progress and log lines; it reports whether it wrote.
func (jr *jobRun) persist() bool {
	m := jr.m
	jr.mu.Lock()
	if !jr.dirty && len(jr.logs) == 0 {
		jr.mu.Unlock()
		return false
	}
	dirty, logs := jr.dirty && !jr.finalized, jr.logs
	u := progressUpdate{Progress: jr.job.Progress, BytesDone: jr.job.BytesDone, BytesTotal: jr.job.BytesTotal}
	if jr.job.Step != nil {
		u.Step = *jr.job.Step
	}
	if jr.job.Message != nil {
		u.Message = *jr.job.Message
	}
	jr.dirty, jr.logs = false, nil
	jr.mu.Unlock()
	ctx, cancel := m.dbCtx()
	defer cancel()
	err := m.st.write(ctx, func(conn *sqlite.Conn) error {
		if dirty {
			if err := updateProgress(conn, jr.id, jr.token, u); err != nil {
				return err
			}
		}
		return insertEvents(conn, jr.id, logs, m.cfg.EventsPerJob)
	})
	if err != nil {
		m.log.Warn("cannot persist job progress; retrying", zap.Int64("job_id", jr.id), zap.Error(err))
		jr.mu.Lock()
		jr.logs = append(logs, jr.logs...)
		jr.dirty = jr.dirty || dirty
		jr.mu.Unlock()
		return false
	}
	return true
}

// renew extends the lease; a lease taken over stops the job at once.
func (jr *jobRun) renew() {
	m := jr.m
	jr.mu.Lock()
	lost, expiry := jr.leaseLost, jr.leaseExpiry
	jr.mu.Unlock()
	if lost {
		return
	}
	now := m.cfg.Now()
	ctx, cancel := m.dbCtx()
	defer cancel()
	var ok bool
	err := m.st.write(ctx, func(conn *sqlite.Conn) error {
		var err error
		ok, err = renewLock(conn, jr.token, jr.id, now.UnixMilli(), now.Add(m.cfg.LeaseDuration).UnixMilli())
		return err
	})
	switch {
	case err != nil && m.cfg.Now().Before(expiry):
		m.log.Warn("cannot renew the backup lease; retrying", zap.Int64("job_id", jr.id), zap.Error(err))
	case err != nil:
		jr.loseLease(fmt.Sprintf("the lease could not be renewed before it expired (%v)", err))
	case !ok:
		jr.loseLease("another process took over the backup lock")
	default:
		ms := now.UnixMilli()
		jr.mu.Lock()
		jr.leaseExpiry = now.Add(m.cfg.LeaseDuration)
		jr.job.HeartbeatAtMs = &ms
		jr.mu.Unlock()
	}
}

func (jr *jobRun) loseLease(why string) {
	jr.mu.Lock()
	jr.leaseLost = true
	jr.mu.Unlock()
	jr.requestStop(stopLease, fmt.Errorf("%w: job %d: %s", backup.ErrLeaseLost, jr.id, why), "")
}

// pollRemote picks up a cancel requested through another process, and
// notices a job ended by someone else (recovery after a takeover).
func (jr *jobRun) pollRemote() {
	m := jr.m
	ctx, cancel := m.dbCtx()
	defer cancel()
	var row jobRow
	if err := m.st.read(ctx, func(conn *sqlite.Conn) error {
		var err error
		row, err = getJob(conn, jr.id)
		return err
	}); err != nil {
		return
	}
	jr.mu.Lock()
	finalized, kind := jr.finalized, jr.stopKind
	jr.mu.Unlock()
	if finalized || kind != stopNone {
		return
	}
	switch {
	case row.Status == StatusCanceling:
		reason := "canceled by request"
		if row.CancelReason != nil {
			reason = *row.CancelReason
		}
		jr.requestStop(stopUser, fmt.Errorf("%w: %s", context.Canceled, reason), reason)
	case !row.Status.Active():
		jr.mu.Lock()
		jr.leaseLost = true
		jr.mu.Unlock()
		jr.requestStop(stopLease, fmt.Errorf("%w: job %d was ended by another process (%s)", backup.ErrLeaseLost, jr.id, row.Status), "")
	}
}

// checkStall fails the job when its step showed no progress for too long.
// Activity is a change of step or item, of bytes written, or of the
// progress message (non-byte phases such as the SQLite check report pages
// through it). The plain limit is StallTimeout; the images step gets, until
// its first byte, StallTimeout + estimate/ImagesFirstByteRate, because a
// graph-driver engine stages the whole export before sending anything.
func (jr *jobRun) checkStall(now time.Time) {
	jr.mu.Lock()
	if !jr.watching || jr.stopKind != stopNone || jr.finalized {
		jr.mu.Unlock()
		return
	}
	limit := jr.m.stallLimit(jr.actStep, jr.sawByte, jr.stepTotal)
	idle := now.Sub(jr.lastAct)
	step := jr.actStep
	jr.mu.Unlock()
	if step == "" {
		step = progress.StepPrecheck // nothing reported yet
	}
	if idle < limit {
		return
	}
	jr.requestStop(stopStall, fmt.Errorf("%w: step %s made no progress for %s", backup.ErrStalled, step, idle.Round(time.Millisecond)), "")
}

func (m *Manager) stallLimit(step progress.Step, sawByte bool, stepTotal int64) time.Duration {
	limit := m.cfg.StallTimeout
	if step == progress.StepImages && !sawByte && stepTotal > 0 && m.cfg.ImagesFirstByteRate > 0 {
		limit += time.Duration(float64(stepTotal) / float64(m.cfg.ImagesFirstByteRate) * float64(time.Second))
	}
	return limit
}

// release deletes the lock row if this job still holds it, and forgets the job.
func (jr *jobRun) release() {
	m := jr.m
	ctx, cancel := m.dbCtx()
	defer cancel()
	var released bool
	if err := m.st.write(ctx, func(conn *sqlite.Conn) error {
		var err error
		released, err = releaseLock(conn, jr.token, jr.id)
		return err
	}); err != nil {
		m.log.Error("cannot release the backup lock; it expires by itself", zap.Int64("job_id", jr.id), zap.Error(err))
	} else if !released {
		m.log.Warn("the backup lock was no longer this job's at its end; left to its new owner", zap.Int64("job_id", jr.id))
	}
	m.mu.Lock()
	delete(m.runs, jr.id)
	m.mu.Unlock()
}

// subscriber queues events for one reader: progress is coalesced, old
// events dropped when the reader falls far behind, the final event never.
type subscriber struct {
	mu    sync.Mutex
	queue []Event
	final bool
	wake  chan struct{}
	out   chan Event
}

const subscriberQueueMax = 256

func newSubscriber() *subscriber {
	return &subscriber{wake: make(chan struct{}, 1), out: make(chan Event, 1)}
}

func (s *subscriber) push(ev Event) {
	s.mu.Lock()
	if s.final {
		s.mu.Unlock()
		return
	}
	n := len(s.queue)
	if ev.Type == "progress" && n > 0 && s.queue[n-1].Type == "progress" && s.queue[n-1].Job == nil && ev.Job == nil {
		s.queue[n-1] = ev
	} else {
		s.queue = append(s.queue, ev)
	}
	if ev.Type == "final" {
		s.final = true
	}
	if len(s.queue) > subscriberQueueMax {
		s.queue = s.queue[len(s.queue)-subscriberQueueMax:]
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pump delivers the queue to out until the final event, ctx's end or done.
func (s *subscriber) pump(ctx context.Context, done <-chan struct{}, unregister func()) {
	defer close(s.out)
	defer unregister()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-ctx.Done():
			return
		case <-done:
			return
		}
		if ev.Type == "final" {
			return
		}
	}
}

// Subscribe delivers a job's events: first its current state (a "progress"
// event carrying Job), then live "progress" and "log" events, then one
// "final" event carrying the finished job, after which the channel is
// closed; it is also closed when ctx ends. A slow reader never blocks the
// job: progress events are coalesced and, far behind, old events dropped —
// never the final one. A job run by another process is followed by polling
// the state DB every PersistInterval.
func (m *Manager) Subscribe(ctx context.Context, id int64) (<-chan Event, error) {
	job, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s := newSubscriber()
	if !job.Status.Active() {
		s.push(Event{Type: "final", JobID: id, Job: &job})
		go s.pump(ctx, m.base.Done(), func() {})
		return s.out, nil
	}
	if jr := m.liveRun(id); jr != nil {
		jr.mu.Lock()
		if jr.finalJob != nil {
			fj := *jr.finalJob
			s.push(Event{Type: "final", JobID: id, Job: &fj})
		} else {
			cur := job
			var p *progress.Report
			if jr.lastProg != nil {
				cp := *jr.lastProg
				p = &cp
			}
			s.push(Event{Type: "progress", JobID: id, Job: &cur, Progress: p})
			jr.subs[s] = struct{}{}
		}
		jr.mu.Unlock()
		go s.pump(ctx, m.base.Done(), func() {
			jr.mu.Lock()
			delete(jr.subs, s)
			jr.mu.Unlock()
		})
		return s.out, nil
	}
	cur := job
	s.push(Event{Type: "progress", JobID: id, Job: &cur})
	go s.pump(ctx, m.base.Done(), func() {})
	go m.pollSubscription(ctx, s, job)
	return s.out, nil
}

// pollSubscription follows a job run by another process through the DB.
func (m *Manager) pollSubscription(ctx context.Context, s *subscriber, last Job) {
	t := time.NewTicker(m.cfg.PersistInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.base.Done():
			return
		case <-t.C:
		}
		j, err := m.Get(ctx, last.ID)
		if err != nil {
			continue
		}
		if !j.Status.Active() {
			s.push(Event{Type: "final", JobID: j.ID, Job: &j})
			return
		}
		if j.Progress != last.Progress || j.BytesDone != last.BytesDone || j.Status != last.Status || !eqStr(j.Step, last.Step) || !eqStr(j.Message, last.Message) {
			jj := j
			p := &progress.Report{Percent: j.Progress, BytesDone: j.BytesDone, BytesTotal: j.BytesTotal, Time: time.Now()}
			if j.Step != nil {
				p.Step = progress.Step(*j.Step)
			}
			if j.Message != nil {
				p.Message = *j.Message
			}
			s.push(Event{Type: "progress", JobID: j.ID, Job: &jj, Progress: p})
			last = j
		}
	}
}

func eqStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// jobLogCore copies a job's Info+ log entries into the job's log lines.
type jobLogCore struct {
	zapcore.LevelEnabler
	fields []zapcore.Field
	sink   func(level, msg string)
}

func (c *jobLogCore) With(fs []zapcore.Field) zapcore.Core {
	return &jobLogCore{LevelEnabler: c.LevelEnabler, fields: append(append([]zapcore.Field(nil), c.fields...), fs...), sink: c.sink}
}

func (c *jobLogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *jobLogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	delete(enc.Fields, "job_id")
	delete(enc.Fields, "project")
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(e.Message)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, enc.Fields[k])
	}
	c.sink(e.Level.String(), b.String())
	return nil
}

func (c *jobLogCore) Sync() error { return nil }
