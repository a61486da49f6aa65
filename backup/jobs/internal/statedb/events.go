package statedb

import (
	"fmt"

	"zombiezen.com/go/sqlite"
)

// Event is one log line of a job.
type Event struct {
	AtMs    int64
	Level   string
	Message string
}

// InsertEvents appends log lines to a job, keeping its newest keep lines.
func (tx *Tx) InsertEvents(id int64, lines []Event, keep int) error {
	for _, l := range lines {
		if err := tx.exec(`INSERT INTO job_events (job_id, at_ms, level, message) VALUES (?, ?, ?, ?)`,
			id, l.AtMs, l.Level, l.Message); err != nil {
			return fmt.Errorf("state db: job %d log line: %w", id, err)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return tx.exec(`DELETE FROM job_events WHERE job_id = ? AND id <= (
		SELECT id FROM job_events WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, id, id, keep)
}

// Events lists a job's log lines, oldest first.
func (tx *Tx) Events(id int64) ([]Event, error) {
	out := []Event{}
	err := tx.query(`SELECT at_ms, level, message FROM job_events WHERE job_id = ? ORDER BY id`, func(stmt *sqlite.Stmt) error {
		out = append(out, Event{AtMs: stmt.ColumnInt64(0), Level: stmt.ColumnText(1), Message: stmt.ColumnText(2)})
		return nil
	}, id)
	return out, err
}
