package statedb

import (
	"fmt"

	"zombiezen.com/go/sqlite"
)

// Stopped is a container a job stopped for a consistent copy.
type Stopped struct {
	JobID int64
	ID    string
	Name  string
}

// RecordStopped records containers a job is about to stop (before it does).
func (tx *Tx) RecordStopped(jobID int64, cs []Stopped, nowMs int64) error {
	for _, c := range cs {
		if err := tx.exec(`INSERT INTO job_stopped_containers (job_id, container_id, name, recorded_at_ms) VALUES (?, ?, ?, ?)
			ON CONFLICT(job_id, container_id) DO UPDATE SET restarted_at_ms = NULL`, jobID, c.ID, c.Name, nowMs); err != nil {
			return fmt.Errorf("state db: record stopped container %s: %w", c.Name, err)
		}
	}
	return nil
}

// MarkRestarted records that a job's stopped containers run again.
func (tx *Tx) MarkRestarted(jobID int64, ids []string, nowMs int64) error {
	for _, id := range ids {
		if err := tx.exec(`UPDATE job_stopped_containers SET restarted_at_ms = ? WHERE job_id = ? AND container_id = ?`,
			nowMs, jobID, id); err != nil {
			return err
		}
	}
	return nil
}

// PendingRestarts lists the containers recorded as stopped by jobs that are
// no longer active and not marked restarted.
func (tx *Tx) PendingRestarts() ([]Stopped, error) {
	var out []Stopped
	err := tx.query(`SELECT sc.job_id, sc.container_id, sc.name FROM job_stopped_containers sc JOIN jobs j ON j.id = sc.job_id
		WHERE sc.restarted_at_ms IS NULL AND j.status NOT IN `+activeStatuses+` ORDER BY sc.job_id, sc.name`,
		func(stmt *sqlite.Stmt) error {
			out = append(out, Stopped{JobID: stmt.ColumnInt64(0), ID: stmt.ColumnText(1), Name: stmt.ColumnText(2)})
			return nil
		})
	return out, err
}

// StoppedCount counts a job's stopped containers (jobID 0: every job's),
// restarted or not as asked.
func (tx *Tx) StoppedCount(jobID int64, restarted bool) (int, error) {
	q := `SELECT count(*) FROM job_stopped_containers WHERE (? = 0 OR job_id = ?) AND restarted_at_ms IS NULL`
	if restarted {
		q = `SELECT count(*) FROM job_stopped_containers WHERE (? = 0 OR job_id = ?) AND restarted_at_ms IS NOT NULL`
	}
	n := 0
	err := tx.query(q, func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt(0); return nil }, jobID, jobID)
	return n, err
}
