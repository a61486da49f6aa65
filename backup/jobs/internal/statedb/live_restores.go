package statedb

import (
	"encoding/json"
	"fmt"

	"zombiezen.com/go/sqlite"
)

// Live restore statuses (the status column).
const (
	LiveRestoreRunning   = "running"
	LiveRestoreCompleted = "completed"
	LiveRestoreFailed    = "failed"
)

// Container is a container a live restore stops, as recorded before it does.
type Container struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// LiveRestore is a row of live_restores: a real restore of the live
// database from a job's pack, with its JSON body.
type LiveRestore struct {
	RestoreID    string
	JobID        int64
	Status       string
	ExecutedBy   string
	ChangeReason string
	ExecutedAtMs int64
	FinishedAtMs *int64
	SourceHash   string  // sha256 of the pack's database
	LiveHash     *string // sha256 of the live database after the restore
	BeforeHash   *string // sha256 of the snapshot of the replaced database
	BeforePath   *string // where that snapshot is kept
	// LeaseToken is the token of the backup lock the restore holds: a
	// running restore whose token no longer holds a live lock is dead.
	LeaseToken    string
	Stopped       []Container
	RestartedAtMs *int64
	Body          []byte
}

const liveRestoreColumns = `restore_id, job_id, status, executed_by, change_reason, executed_at_ms, finished_at_ms,
	source_hash, live_hash, before_hash, before_path, lease_token, stopped, restarted_at_ms, body`

// InsertLiveRestore records a restore (before it changes anything).
func (tx *Tx) InsertLiveRestore(r LiveRestore) error {
	stopped, err := json.Marshal(nonNilContainers(r.Stopped))
	if err != nil {
		return err
	}
	return tx.exec(`INSERT INTO live_restores (`+liveRestoreColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RestoreID, r.JobID, r.Status, r.ExecutedBy, r.ChangeReason, r.ExecutedAtMs, nint(r.FinishedAtMs),
		r.SourceHash, nstr(r.LiveHash), nstr(r.BeforeHash), nstr(r.BeforePath), r.LeaseToken, string(stopped), nint(r.RestartedAtMs), string(r.Body))
}

// SetLiveRestoreStopped records the containers a restore is about to stop.
func (tx *Tx) SetLiveRestoreStopped(restoreID string, cs []Container) error {
	stopped, err := json.Marshal(nonNilContainers(cs))
	if err != nil {
		return err
	}
	return tx.exec(`UPDATE live_restores SET stopped = ? WHERE restore_id = ?`, string(stopped), restoreID)
}

// FinishLiveRestore stores a restore's end: its status, hashes and body.
func (tx *Tx) FinishLiveRestore(r LiveRestore) error {
	return tx.exec(`UPDATE live_restores SET status = ?, finished_at_ms = ?, live_hash = ?, before_hash = ?, before_path = ?, body = ?
		WHERE restore_id = ?`, r.Status, nint(r.FinishedAtMs), nstr(r.LiveHash), nstr(r.BeforeHash), nstr(r.BeforePath), string(r.Body), r.RestoreID)
}

// MarkLiveRestoreRestarted records that a restore's stopped containers run again.
func (tx *Tx) MarkLiveRestoreRestarted(restoreID string, atMs int64) error {
	return tx.exec(`UPDATE live_restores SET restarted_at_ms = ? WHERE restore_id = ?`, atMs, restoreID)
}

// LiveRestoreBodies lists the newest restores' bodies, newest first, at most limit.
func (tx *Tx) LiveRestoreBodies(limit int) ([][]byte, error) {
	var out [][]byte
	err := tx.query(`SELECT body FROM live_restores ORDER BY id DESC LIMIT ?`, func(stmt *sqlite.Stmt) error {
		out = append(out, []byte(stmt.ColumnText(0)))
		return nil
	}, limit)
	return out, err
}

// UnsettledLiveRestores lists the restores still running, and the ended
// ones whose stopped containers are not yet recorded as running again,
// oldest first.
func (tx *Tx) UnsettledLiveRestores() ([]LiveRestore, error) {
	var out []LiveRestore
	err := tx.query(`SELECT `+liveRestoreColumns+` FROM live_restores
		WHERE status = ? OR (restarted_at_ms IS NULL AND stopped != '[]') ORDER BY id`, func(stmt *sqlite.Stmt) error {
		r, err := scanLiveRestore(stmt)
		out = append(out, r)
		return err
	}, LiveRestoreRunning)
	return out, err
}

func scanLiveRestore(stmt *sqlite.Stmt) (LiveRestore, error) {
	r := LiveRestore{
		RestoreID: stmt.GetText("restore_id"), JobID: stmt.GetInt64("job_id"), Status: stmt.GetText("status"),
		ExecutedBy: stmt.GetText("executed_by"), ChangeReason: stmt.GetText("change_reason"), ExecutedAtMs: stmt.GetInt64("executed_at_ms"),
		FinishedAtMs: colInt(stmt, "finished_at_ms"), SourceHash: stmt.GetText("source_hash"), LiveHash: colStr(stmt, "live_hash"),
		BeforeHash: colStr(stmt, "before_hash"), BeforePath: colStr(stmt, "before_path"), LeaseToken: stmt.GetText("lease_token"),
		RestartedAtMs: colInt(stmt, "restarted_at_ms"), Body: []byte(stmt.GetText("body")),
	}
	if err := json.Unmarshal([]byte(stmt.GetText("stopped")), &r.Stopped); err != nil {
		return r, fmt.Errorf("state db: live restore %s: stopped containers: %w", r.RestoreID, err)
	}
	return r, nil
}

func nonNilContainers(cs []Container) []Container {
	if cs == nil {
		return []Container{}
	}
	return cs
}
