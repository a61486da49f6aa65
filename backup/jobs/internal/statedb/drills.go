package statedb

import (
	"zombiezen.com/go/sqlite"
)

// Drill is a stored restore drill: its columns and its JSON body.
type Drill struct {
	DrillID          string
	JobID            int64
	ExecutedAtMs     int64
	AcceptanceStatus string
	Result           string
	Body             []byte
}

// InsertDrill stores a drill.
func (tx *Tx) InsertDrill(d Drill) error {
	return tx.exec(`INSERT INTO restore_drills (drill_id, job_id, executed_at_ms, acceptance_status, result, body) VALUES (?, ?, ?, ?, ?, ?)`,
		d.DrillID, d.JobID, d.ExecutedAtMs, d.AcceptanceStatus, d.Result, string(d.Body))
}

// DrillBodies lists the newest drills' bodies, newest first, at most limit.
func (tx *Tx) DrillBodies(limit int) ([][]byte, error) {
	var out [][]byte
	err := tx.query(`SELECT body FROM restore_drills ORDER BY id DESC LIMIT ?`, func(stmt *sqlite.Stmt) error {
		out = append(out, []byte(stmt.ColumnText(0)))
		return nil
	}, limit)
	return out, err
}

// DrillBody reads one drill's body (nil when unknown).
func (tx *Tx) DrillBody(drillID string) ([]byte, error) {
	var out []byte
	err := tx.query(`SELECT body FROM restore_drills WHERE drill_id = ?`, func(stmt *sqlite.Stmt) error {
		out = []byte(stmt.ColumnText(0))
		return nil
	}, drillID)
	return out, err
}
