package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/backup/jobs/internal/lock"
	"github.com/dockpack/dockpack/backup/jobs/internal/recovery"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/internal/owner"
	"go.uber.org/zap"
)

// lease is one holding of the backup lock by this process (package lock).
type lease = lock.Lease

// takeLease takes the backup lock inside the caller's write transaction:
// a live lease is a *BusyError; a stale one is taken over. jobID is called
// once the lock is known to be takeable and names the job the lease is for
// (Start inserts the job row there). Every other active job is recovered
// (failed/interrupted); they are returned for cleanupRecovered, with why
// the lock was takeable.
func (m *Manager) takeLease(tx *statedb.Tx, now time.Time, token, by string, jobID func() (int64, error)) (lease, []statedb.Job, string, error) {
	l, err := tx.Lock()
	if err != nil {
		return lease{}, nil, "", err
	}
	why := "its lock was free"
	if l != nil {
		live, reason := m.judgeLease(l, now)
		if live {
			return lease{}, nil, "", &BusyError{JobID: l.JobID, Owner: l.Owner()}
		}
		why = reason
	}
	id, err := jobID()
	if err != nil {
		return lease{}, nil, "", err
	}
	nowMs := now.UnixMilli()
	if err := tx.PutLock(statedb.Lock{OwnerToken: token, JobID: id, Host: m.id.Host, PID: m.id.PID, ProcStart: m.id.ProcStart,
		AcquiredAtMs: nowMs, RenewedAtMs: nowMs, ExpiresAtMs: now.Add(m.cfg.LeaseDuration).UnixMilli()}); err != nil {
		return lease{}, nil, "", err
	}
	recovered, err := recovery.MarkInterrupted(tx, id, nowMs, m.id, why+by, m.tr("job.interrupted"))
	if err != nil {
		return lease{}, nil, "", err
	}
	if l == nil {
		why = ""
	}
	return lease{DB: m.db, Token: token, JobID: id, Duration: m.cfg.LeaseDuration, Now: m.cfg.Now, Ctx: m.dbCtx}, recovered, why, nil
}

// holdLease takes the backup lock for an operation other than a backup (a
// restore drill, a real restore: what, e.g. "restore drill X") on behalf of
// jobID, with a fresh owner token, and renews it until release; losing it
// cancels the returned context. A live lease is a *BusyError; a stale one is
// taken over and its jobs recovered, as Start does.
func (m *Manager) holdLease(ctx context.Context, what string, jobID int64) (context.Context, func(), error) {
	var (
		ls        lease
		recovered []statedb.Job
	)
	err := m.db.Write(ctx, func(tx *statedb.Tx) error {
		var err error
		ls, recovered, _, err = m.takeLease(tx, m.cfg.Now(), owner.NewToken(), " (taken by "+what+")",
			func() (int64, error) { return jobID, nil })
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if len(recovered) > 0 {
		m.cleanupRecovered(ctx, recovered, nil)
	}
	hctx, cancel := context.WithCancelCause(ctx)
	m.holdMu.Lock()
	m.holds[ls.Token] = cancel
	m.holdMu.Unlock()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		ls.Keep(hctx, stop, func(err error) { cancel(fmt.Errorf("%s: %w", what, err)) }, func(err error) {
			m.log.Warn("cannot renew the lease; retrying", zap.String("holder", what), zap.Error(err))
		})
	}()
	release := func() {
		close(stop)
		<-done
		cancel(nil)
		m.holdMu.Lock()
		delete(m.holds, ls.Token)
		m.holdMu.Unlock()
		if _, err := ls.Release(); err != nil {
			m.log.Error("cannot release the backup lock; it expires by itself", zap.String("holder", what), zap.Error(err))
		}
	}
	return hctx, release, nil
}

// Hold takes the backup lock for an operation outside this package (a
// pack verification: what, e.g. "verification of pack X") on behalf of
// jobID (0: none), as drills and real restores do: a live lease is a
// *BusyError, ErrClosed once Close began. The lock is renewed until
// release; losing it, or Close, cancels the returned context, and Close
// waits for release.
func (m *Manager) Hold(ctx context.Context, what string, jobID int64) (context.Context, func(), error) {
	done, err := m.enter()
	if err != nil {
		return nil, nil, err
	}
	hctx, release, err := m.holdLease(ctx, what, jobID)
	if err != nil {
		done()
		return nil, nil, err
	}
	return hctx, func() {
		release()
		done()
	}, nil
}

// cancelHolds cancels the operations holding a lease through holdLease (Close).
func (m *Manager) cancelHolds(cause error) {
	m.holdMu.Lock()
	defer m.holdMu.Unlock()
	for _, c := range m.holds {
		c(cause)
	}
}
