package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/progress"
	"go.uber.org/zap"
)

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
	u := statedb.Progress{Progress: jr.job.Progress, BytesDone: jr.job.BytesDone, BytesTotal: jr.job.BytesTotal}
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
	err := m.db.Write(ctx, func(tx *statedb.Tx) error {
		if dirty {
			if err := tx.UpdateProgress(jr.id, jr.lease.Token, u); err != nil {
				return err
			}
		}
		return tx.InsertEvents(jr.id, events(logs), m.cfg.EventsPerJob)
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
	ok, err := jr.lease.Renew()
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
	var row Job
	if err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		r, err := tx.Job(jr.id)
		row = jobOf(r)
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
	if released, err := jr.lease.Release(); err != nil {
		m.log.Error("cannot release the backup lock; it expires by itself", zap.Int64("job_id", jr.id), zap.Error(err))
	} else if !released {
		m.log.Warn("the backup lock was no longer this job's at its end; left to its new owner", zap.Int64("job_id", jr.id))
	}
	m.mu.Lock()
	delete(m.runs, jr.id)
	m.mu.Unlock()
}
