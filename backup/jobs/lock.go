package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/internal/owner"
)

// The lease lock: one row in backup_locks (name = 'backup') names the owner
// (random token, host, pid, process start), the job it runs, and when the
// lease was acquired and expires. It is taken, together with the job row, in
// one BEGIN IMMEDIATE transaction; the running job renews it every third of
// the lease. An expired lease, or one whose owner is provably dead on this
// host, is taken over without anyone deleting rows by hand, and every job the
// old owner left active is recovered (failed, error code interrupted).

// LockInfo describes the lock row, for doctor and metrics.
type LockInfo struct {
	// Held: a row exists and its lease is live (not expired, owner not provably dead).
	Held  bool  `json:"held"`
	JobID int64 `json:"job_id"`
	// OwnerToken is a short prefix of the owner's token, never the whole token.
	OwnerToken string    `json:"owner_token"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Stale: a row exists but the next Start would take it over; StaleReason says why.
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason,omitempty"`
}

// judgeLease says whether l is a live lease at now, and if not, why.
// A lease held by this very Manager for a job it no longer runs is stale too.
func (m *Manager) judgeLease(l *statedb.Lock, now time.Time) (live bool, why string) {
	if l.OwnerToken == m.id.Token && now.UnixMilli() < l.ExpiresAtMs {
		if !m.isRunning(l.JobID) {
			return false, fmt.Sprintf("the lease of job %d is this process's own, for a job it no longer runs", l.JobID)
		}
		return true, ""
	}
	return judgeForeignLease(l, now, m.id.Host, m.cfg.ProcAlive)
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
	return lockInfo(l, live, why), nil
}

// lockInfo describes a lock row judged live or not (why).
func lockInfo(l *statedb.Lock, live bool, why string) LockInfo {
	if l == nil {
		return LockInfo{}
	}
	return LockInfo{
		Held: live, JobID: l.JobID, OwnerToken: owner.ShortToken(l.OwnerToken), Host: l.Host, PID: l.PID,
		AcquiredAt: time.UnixMilli(l.AcquiredAtMs).UTC(), RenewedAt: time.UnixMilli(l.RenewedAtMs).UTC(),
		ExpiresAt: time.UnixMilli(l.ExpiresAtMs).UTC(), Stale: !live, StaleReason: why,
	}
}

// judgeForeignLease is the lease rule for a lease the caller does not own (a
// reader, or a Manager looking at another process's lease): live until it
// expires, unless its owner is on this host and provably dead.
func judgeForeignLease(l *statedb.Lock, now time.Time, host string, alive func(int, string) bool) (live bool, why string) {
	if now.UnixMilli() >= l.ExpiresAtMs {
		return false, fmt.Sprintf("the lease of job %d (%s) expired at %s", l.JobID, l.Owner(),
			time.UnixMilli(l.ExpiresAtMs).UTC().Format(time.RFC3339Nano))
	}
	if l.Host == host && !alive(l.PID, l.ProcStart) {
		return false, fmt.Sprintf("the owner of job %d (%s) is not running any more (pid gone or reused)", l.JobID, l.Owner())
	}
	return true, ""
}

// MarshalJSON leaves out the times of a free lock instead of printing year 1.
func (l LockInfo) MarshalJSON() ([]byte, error) {
	type plain LockInfo
	out := struct {
		plain
		AcquiredAt *time.Time `json:"acquired_at,omitempty"`
		RenewedAt  *time.Time `json:"renewed_at,omitempty"`
		ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	}{plain: plain(l)}
	for _, f := range []struct {
		src time.Time
		dst **time.Time
	}{{l.AcquiredAt, &out.AcquiredAt}, {l.RenewedAt, &out.RenewedAt}, {l.ExpiresAt, &out.ExpiresAt}} {
		if !f.src.IsZero() {
			t := f.src
			*f.dst = &t
		}
	}
	return json.Marshal(out)
}
