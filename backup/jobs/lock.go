package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/backup/jobs/internal/lock"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
)

// LockInfo describes the lock row, for doctor and metrics.
type LockInfo = lock.Info

// judgeLease says whether l is a live lease at now, and if not, why.
// A lease held by this very Manager for a job it no longer runs is stale too.
func (m *Manager) judgeLease(l *statedb.Lock, now time.Time) (live bool, why string) {
	if l.OwnerToken == m.id.Token && now.UnixMilli() < l.ExpiresAtMs {
		if !m.isRunning(l.JobID) {
			return false, fmt.Sprintf("the lease of job %d is this process's own, for a job it no longer runs", l.JobID)
		}
		return true, ""
	}
	return lock.Judge(l, now, m.id.Host, m.cfg.ProcAlive)
}

// Lock reports the lock row as it is now.
func (m *Manager) Lock(ctx context.Context) (LockInfo, error) {
	var l *statedb.Lock
	if err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		var err error
		l, err = tx.Lock()
		return err
	}); err != nil {
		return LockInfo{}, err
	}
	if l == nil {
		return LockInfo{}, nil
	}
	live, why := m.judgeLease(l, m.cfg.Now())
	return lock.InfoOf(l, live, why), nil
}
