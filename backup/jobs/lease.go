package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/recovery"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/internal/owner"
	"go.uber.org/zap"
)

// The lease lock: one row in backup_locks (name = 'backup') names the owner
// (random token, host, pid, process start), the job it runs, and when the
// lease was acquired and expires. It is taken, together with the job row, in
// one BEGIN IMMEDIATE transaction; its holder renews it every third of the
// lease. An expired lease, or one whose owner is provably dead on this host,
// is taken over without anyone deleting rows by hand, and every job the old
// owner left active is recovered (failed, error code interrupted). Backups,
// restore drills and real restores all hold it through a lease.

// lease is one holding of the backup lock by this process.
type lease struct {
	m     *Manager
	token string
	jobID int64
}

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
	return lease{m: m, token: token, jobID: id}, recovered, why, nil
}

// renew extends the lease; ok is false when it was taken over (or released).
func (ls lease) renew() (ok bool, err error) {
	now := ls.m.cfg.Now()
	ctx, cancel := ls.m.dbCtx()
	defer cancel()
	err = ls.m.db.Write(ctx, func(tx *statedb.Tx) error {
		var err error
		ok, err = tx.RenewLock(ls.token, ls.jobID, now.UnixMilli(), now.Add(ls.m.cfg.LeaseDuration).UnixMilli())
		return err
	})
	return ok, err
}

// held reports whether the lease is still this holder's.
func (ls lease) held(ctx context.Context) (bool, error) {
	var owner bool
	err := ls.m.db.Read(ctx, func(tx *statedb.Tx) error {
		l, err := tx.Lock()
		owner = err == nil && l != nil && l.OwnerToken == ls.token && l.JobID == ls.jobID
		return err
	})
	return owner, err
}

// release deletes the lock row if this holder still holds it; released is
// false when it had passed to another owner already.
func (ls lease) release() (released bool, err error) {
	ctx, cancel := ls.m.dbCtx()
	defer cancel()
	err = ls.m.db.Write(ctx, func(tx *statedb.Tx) error {
		var err error
		released, err = tx.ReleaseLock(ls.token, ls.jobID)
		return err
	})
	return released, err
}

// keep renews the lease every third of its duration until stop is closed or
// ctx ends; lost is called (once) when another process took it over.
func (ls lease) keep(ctx context.Context, stop <-chan struct{}, lost func(error), warn func(error)) {
	t := time.NewTicker(max(ls.m.cfg.LeaseDuration/3, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := ls.renew()
		switch {
		case err != nil:
			warn(err)
		case !ok:
			lost(fmt.Errorf("%w: another process took over the backup lock", backup.ErrLeaseLost))
			return
		}
	}
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
	m.holds[ls.token] = cancel
	m.holdMu.Unlock()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		ls.keep(hctx, stop, func(err error) { cancel(fmt.Errorf("%s: %w", what, err)) }, func(err error) {
			m.log.Warn("cannot renew the lease; retrying", zap.String("holder", what), zap.Error(err))
		})
	}()
	release := func() {
		close(stop)
		<-done
		cancel(nil)
		m.holdMu.Lock()
		delete(m.holds, ls.token)
		m.holdMu.Unlock()
		if _, err := ls.release(); err != nil {
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
