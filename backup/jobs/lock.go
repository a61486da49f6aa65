package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/internal/owner"
	"zombiezen.com/go/sqlite"
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

type lockRow struct {
	OwnerToken   string
	JobID        int64
	Host         string
	PID          int
	ProcStart    string
	AcquiredAtMs int64
	RenewedAtMs  int64
	ExpiresAtMs  int64
}

func (l *lockRow) owner() string { return fmt.Sprintf("host %s pid %d", l.Host, l.PID) }

func readLock(conn *sqlite.Conn) (*lockRow, error) {
	var l *lockRow
	err := query(conn, `SELECT owner_token, job_id, host, pid, proc_start, acquired_at_ms, renewed_at_ms, expires_at_ms
		FROM backup_locks WHERE name = 'backup'`, func(stmt *sqlite.Stmt) error {
		l = &lockRow{
			OwnerToken: stmt.ColumnText(0), JobID: stmt.ColumnInt64(1), Host: stmt.ColumnText(2), PID: stmt.ColumnInt(3),
			ProcStart: stmt.ColumnText(4), AcquiredAtMs: stmt.ColumnInt64(5), RenewedAtMs: stmt.ColumnInt64(6), ExpiresAtMs: stmt.ColumnInt64(7),
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state db: read backup lock: %w", err)
	}
	return l, nil
}

func writeLock(conn *sqlite.Conn, l lockRow) error {
	return exec(conn, `INSERT INTO backup_locks (name, owner_token, job_id, host, pid, proc_start, acquired_at_ms, renewed_at_ms, expires_at_ms)
		VALUES ('backup', ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET owner_token = excluded.owner_token, job_id = excluded.job_id, host = excluded.host,
			pid = excluded.pid, proc_start = excluded.proc_start, acquired_at_ms = excluded.acquired_at_ms,
			renewed_at_ms = excluded.renewed_at_ms, expires_at_ms = excluded.expires_at_ms`,
		l.OwnerToken, l.JobID, l.Host, l.PID, l.ProcStart, l.AcquiredAtMs, l.RenewedAtMs, l.ExpiresAtMs)
}

// renewLock extends the lease if token still holds it for jobID; false
// means the lease was taken over (or released).
func renewLock(conn *sqlite.Conn, token string, jobID, nowMs, expiresMs int64) (bool, error) {
	if err := exec(conn, `UPDATE backup_locks SET renewed_at_ms = ?, expires_at_ms = ?
		WHERE name = 'backup' AND owner_token = ? AND job_id = ?`, nowMs, expiresMs, token, jobID); err != nil {
		return false, err
	}
	if conn.Changes() == 0 {
		return false, nil
	}
	return true, exec(conn, `UPDATE jobs SET heartbeat_at_ms = ? WHERE id = ? AND owner_token = ?`, nowMs, jobID, token)
}

// releaseLock deletes the lock row only if token still holds it for jobID.
func releaseLock(conn *sqlite.Conn, token string, jobID int64) (bool, error) {
	if err := exec(conn, `DELETE FROM backup_locks WHERE name = 'backup' AND owner_token = ? AND job_id = ?`, token, jobID); err != nil {
		return false, err
	}
	return conn.Changes() > 0, nil
}

// judgeLease says whether l is a live lease at now, and if not, why.
// A lease held by this very Manager for a job it no longer runs is stale too.
func (m *Manager) judgeLease(l *lockRow, now time.Time) (live bool, why string) {
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
	var l *lockRow
	if err := m.st.read(ctx, func(conn *sqlite.Conn) error {
		var err error
		l, err = readLock(conn)
		return err
	}); err != nil {
		return LockInfo{}, err
	}
	if l == nil {
		return LockInfo{}, nil
	}
	live, why := m.judgeLease(l, m.cfg.Now())
	return LockInfo{
		Held: live, JobID: l.JobID, OwnerToken: owner.ShortToken(l.OwnerToken), Host: l.Host, PID: l.PID,
		AcquiredAt: time.UnixMilli(l.AcquiredAtMs).UTC(), RenewedAt: time.UnixMilli(l.RenewedAtMs).UTC(),
		ExpiresAt: time.UnixMilli(l.ExpiresAtMs).UTC(), Stale: !live, StaleReason: why,
	}, nil
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
