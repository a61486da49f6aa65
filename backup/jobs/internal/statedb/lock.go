package statedb

import (
	"fmt"

	"zombiezen.com/go/sqlite"
)

// Lock is the row of backup_locks (name = 'backup'): who holds the lease,
// for which job, and until when.
type Lock struct {
	OwnerToken   string
	JobID        int64
	Host         string
	PID          int
	ProcStart    string
	AcquiredAtMs int64
	RenewedAtMs  int64
	ExpiresAtMs  int64
}

// Owner names the lock's owner for humans ("host myhost pid 42").
func (l *Lock) Owner() string { return fmt.Sprintf("host %s pid %d", l.Host, l.PID) }

// Lock reads the lock row (nil when there is none).
func (tx *Tx) Lock() (*Lock, error) {
	var l *Lock
	err := tx.query(`SELECT owner_token, job_id, host, pid, proc_start, acquired_at_ms, renewed_at_ms, expires_at_ms
		FROM backup_locks WHERE name = 'backup'`, func(stmt *sqlite.Stmt) error {
		l = &Lock{
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

// PutLock writes the lock row, replacing any.
func (tx *Tx) PutLock(l Lock) error {
	if err := tx.exec(`INSERT INTO backup_locks (name, owner_token, job_id, host, pid, proc_start, acquired_at_ms, renewed_at_ms, expires_at_ms)
		VALUES ('backup', ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET owner_token = excluded.owner_token, job_id = excluded.job_id, host = excluded.host,
			pid = excluded.pid, proc_start = excluded.proc_start, acquired_at_ms = excluded.acquired_at_ms,
			renewed_at_ms = excluded.renewed_at_ms, expires_at_ms = excluded.expires_at_ms`,
		l.OwnerToken, l.JobID, l.Host, l.PID, l.ProcStart, l.AcquiredAtMs, l.RenewedAtMs, l.ExpiresAtMs); err != nil {
		return fmt.Errorf("state db: write backup lock: %w", err)
	}
	return nil
}

// RenewLock extends the lease if token still holds it for jobID (and
// records the heartbeat on the job); false means it was taken over or released.
func (tx *Tx) RenewLock(token string, jobID, nowMs, expiresMs int64) (bool, error) {
	if err := tx.exec(`UPDATE backup_locks SET renewed_at_ms = ?, expires_at_ms = ?
		WHERE name = 'backup' AND owner_token = ? AND job_id = ?`, nowMs, expiresMs, token, jobID); err != nil {
		return false, err
	}
	if !tx.changed() {
		return false, nil
	}
	return true, tx.exec(`UPDATE jobs SET heartbeat_at_ms = ? WHERE id = ? AND owner_token = ?`, nowMs, jobID, token)
}

// ReleaseLock deletes the lock row only if token still holds it for jobID.
func (tx *Tx) ReleaseLock(token string, jobID int64) (bool, error) {
	if err := tx.exec(`DELETE FROM backup_locks WHERE name = 'backup' AND owner_token = ? AND job_id = ?`, token, jobID); err != nil {
		return false, err
	}
	return tx.changed(), nil
}

// DeleteLock deletes the lock row whoever holds it (a stale lease at start-up).
func (tx *Tx) DeleteLock() error { return tx.exec(`DELETE FROM backup_locks WHERE name = 'backup'`) }
