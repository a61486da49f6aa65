package statedb

import (
	"encoding/json"
	"errors"
	"fmt"

	"zombiezen.com/go/sqlite"
)

// ErrNoJob: no job row with that id (jobs.ErrJobNotFound).
var ErrNoJob = errors.New("job_not_found")

// Job is a row of the jobs table as stored (times in Unix milliseconds,
// NULL as nil).
type Job struct {
	ID                  int64
	Kind                string
	Status              string
	Progress            int
	Message             *string
	Detail              *string
	OutputDir           *string
	PackageHash         *string
	CreatedAtMs         int64
	StartedAtMs         *int64
	FinishedAtMs        *int64
	CancelRequestedAtMs *int64
	CancelReason        *string
	CanceledAtMs        *int64
	VerificationStatus  string
	VerificationDetail  *string
	VerifiedBy          *string
	VerifiedAtMs        *int64
	LastRestoreDrillID  *string
	Project             string
	Components          []string
	Trigger             string
	Step                *string
	BytesDone           int64
	BytesTotal          int64
	ErrorCode           *string
	HeartbeatAtMs       *int64
	PackName            *string
	// Columns that are not served.
	Target      string
	PartialDirs []string
	OwnerToken  string
	OwnerHost   string
	OwnerPID    int
	// PendingPack and PendingHash: the pack the job was about to rename into
	// place, and its package hash.
	PendingPack *string
	PendingHash *string
	// StoreStats is a store backup's bytes per component (JSON; nil: classic).
	StoreStats *string
	// Encryption says whether a completed backup's pack is sealed and to
	// whom (JSON; nil: unknown).
	Encryption *string
}

// jobColumns is the SELECT list every job read uses.
const jobColumns = `id, kind, status, progress, message, detail, output_dir, package_hash, created_at_ms,
	started_at_ms, finished_at_ms, cancel_requested_at_ms, cancel_reason, canceled_at_ms,
	verification_status, verification_detail, verified_by, verified_at_ms, last_restore_drill_id,
	project, components, trigger, step, bytes_done, bytes_total, error_code, heartbeat_at_ms, pack_name,
	target, partial_dirs, owner_token, owner_host, owner_pid, pending_pack, pending_hash, store_stats, encryption`

// activeStatuses are the states of a job that may still change.
const activeStatuses = `('queued', 'running', 'canceling')`

func scanJob(stmt *sqlite.Stmt) Job {
	j := Job{
		ID: stmt.GetInt64("id"), Kind: stmt.GetText("kind"), Status: stmt.GetText("status"),
		Progress: int(stmt.GetInt64("progress")), Message: colStr(stmt, "message"), Detail: colStr(stmt, "detail"),
		OutputDir: colStr(stmt, "output_dir"), PackageHash: colStr(stmt, "package_hash"), CreatedAtMs: stmt.GetInt64("created_at_ms"),
		StartedAtMs: colInt(stmt, "started_at_ms"), FinishedAtMs: colInt(stmt, "finished_at_ms"),
		CancelRequestedAtMs: colInt(stmt, "cancel_requested_at_ms"), CancelReason: colStr(stmt, "cancel_reason"),
		CanceledAtMs: colInt(stmt, "canceled_at_ms"), VerificationStatus: stmt.GetText("verification_status"),
		VerificationDetail: colStr(stmt, "verification_detail"), VerifiedBy: colStr(stmt, "verified_by"),
		VerifiedAtMs: colInt(stmt, "verified_at_ms"), LastRestoreDrillID: colStr(stmt, "last_restore_drill_id"),
		Project: stmt.GetText("project"), Trigger: stmt.GetText("trigger"), Step: colStr(stmt, "step"),
		BytesDone: stmt.GetInt64("bytes_done"), BytesTotal: stmt.GetInt64("bytes_total"), ErrorCode: colStr(stmt, "error_code"),
		HeartbeatAtMs: colInt(stmt, "heartbeat_at_ms"), PackName: colStr(stmt, "pack_name"),
		Target: stmt.GetText("target"), OwnerToken: stmt.GetText("owner_token"), OwnerHost: stmt.GetText("owner_host"),
		OwnerPID: int(stmt.GetInt64("owner_pid")), PendingPack: colStr(stmt, "pending_pack"), PendingHash: colStr(stmt, "pending_hash"),
		StoreStats: colStr(stmt, "store_stats"), Encryption: colStr(stmt, "encryption"),
	}
	_ = json.Unmarshal([]byte(stmt.GetText("components")), &j.Components)
	if j.Components == nil {
		j.Components = []string{}
	}
	_ = json.Unmarshal([]byte(stmt.GetText("partial_dirs")), &j.PartialDirs)
	return j
}

// Job reads one job; an unknown id wraps ErrNoJob.
func (tx *Tx) Job(id int64) (Job, error) {
	var j Job
	found := false
	err := tx.query(`SELECT `+jobColumns+` FROM jobs WHERE id = ?`, func(stmt *sqlite.Stmt) error {
		j, found = scanJob(stmt), true
		return nil
	}, id)
	if err != nil {
		return Job{}, fmt.Errorf("state db: read job %d: %w", id, err)
	}
	if !found {
		return Job{}, fmt.Errorf("%w: no backup job with id %d", ErrNoJob, id)
	}
	return j, nil
}

// Jobs lists jobs newest first, at most limit, of one status ("" = all).
func (tx *Tx) Jobs(limit int, status string) ([]Job, error) {
	var out []Job
	q := `SELECT ` + jobColumns + ` FROM jobs`
	args := []any{}
	if status != "" {
		q += ` WHERE status = ?`
		args = append(args, status)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	err := tx.query(q, func(stmt *sqlite.Stmt) error {
		out = append(out, scanJob(stmt))
		return nil
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("state db: list jobs: %w", err)
	}
	return out, nil
}

// ActiveJobs lists the jobs still queued, running or canceling, but except, oldest first.
func (tx *Tx) ActiveJobs(except int64) ([]Job, error) {
	var out []Job
	if err := tx.query(`SELECT `+jobColumns+` FROM jobs WHERE status IN `+activeStatuses+` AND id != ? ORDER BY id`,
		func(stmt *sqlite.Stmt) error {
			out = append(out, scanJob(stmt))
			return nil
		}, except); err != nil {
		return nil, fmt.Errorf("state db: find active jobs: %w", err)
	}
	return out, nil
}

// InsertJob stores a new job and returns its id.
func (tx *Tx) InsertJob(j Job) (int64, error) {
	comps, _ := json.Marshal(j.Components)
	err := tx.exec(`INSERT INTO jobs (kind, status, progress, message, created_at_ms, started_at_ms, verification_status,
		project, components, trigger, target, owner_token, owner_host, owner_pid, heartbeat_at_ms, step)
		VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.Kind, j.Status, nstr(j.Message), j.CreatedAtMs, nint(j.StartedAtMs), j.VerificationStatus,
		j.Project, string(comps), j.Trigger, j.Target, j.OwnerToken, j.OwnerHost, j.OwnerPID, nint(j.HeartbeatAtMs), nstr(j.Step))
	if err != nil {
		return 0, fmt.Errorf("state db: insert job: %w", err)
	}
	return tx.conn.LastInsertRowID(), nil
}

// Progress is what a running job's persister writes.
type Progress struct {
	Progress   int
	Step       string
	Message    string
	BytesDone  int64
	BytesTotal int64
}

// UpdateProgress writes the progress of an active job run by token;
// progress and bytes never go backwards in the DB.
func (tx *Tx) UpdateProgress(id int64, token string, u Progress) error {
	return tx.exec(`UPDATE jobs SET progress = MAX(progress, ?), step = ?, message = ?,
		bytes_done = MAX(bytes_done, ?), bytes_total = ?
		WHERE id = ? AND owner_token = ? AND status IN `+activeStatuses,
		u.Progress, u.Step, u.Message, u.BytesDone, u.BytesTotal, id, token)
}

// Final is the end state of a job.
type Final struct {
	Status       string
	Progress     int
	Message      string
	Detail       *string
	ErrorCode    *string
	OutputDir    *string
	PackageHash  *string
	PackName     *string
	Step         *string
	BytesDone    int64
	BytesTotal   int64
	FinishedAtMs int64
	CanceledAtMs *int64
	StoreStats   *string // JSON; nil keeps what is stored
	Encryption   *string // JSON; nil keeps what is stored
}

// FinishJob writes the final state of a job still active and still run by
// token; it reports whether it did (false: someone else — recovery after a
// takeover — already ended it, and that outcome is kept).
func (tx *Tx) FinishJob(id int64, token string, f Final) (bool, error) {
	err := tx.exec(`UPDATE jobs SET status = ?, progress = MAX(progress, ?), message = ?, detail = ?, error_code = ?,
		output_dir = ?, package_hash = ?, pack_name = ?, step = COALESCE(?, step), bytes_done = MAX(bytes_done, ?),
		bytes_total = CASE WHEN ? > 0 THEN ? ELSE bytes_total END, finished_at_ms = ?, canceled_at_ms = ?,
		store_stats = COALESCE(?, store_stats), encryption = COALESCE(?, encryption)
		WHERE id = ? AND owner_token = ? AND status IN `+activeStatuses,
		f.Status, f.Progress, f.Message, nstr(f.Detail), nstr(f.ErrorCode), nstr(f.OutputDir), nstr(f.PackageHash),
		nstr(f.PackName), nstr(f.Step), f.BytesDone, f.BytesTotal, f.BytesTotal, f.FinishedAtMs, nint(f.CanceledAtMs), nstr(f.StoreStats), nstr(f.Encryption), id, token)
	if err != nil {
		return false, fmt.Errorf("state db: finish job %d: %w", id, err)
	}
	return tx.changed(), nil
}

// FailInterrupted ends an active job as failed with error code "interrupted".
func (tx *Tx) FailInterrupted(id, nowMs int64, message, detail string) error {
	if err := tx.exec(`UPDATE jobs SET status = 'failed', error_code = 'interrupted', message = ?, detail = ?, finished_at_ms = ?
		WHERE id = ? AND status IN `+activeStatuses, message, detail, nowMs, id); err != nil {
		return fmt.Errorf("state db: mark job %d interrupted: %w", id, err)
	}
	return nil
}

// RequestCancel moves a queued or running job to canceling, recording when
// and why; it reports whether it did.
func (tx *Tx) RequestCancel(id, nowMs int64, reason string) (bool, error) {
	if err := tx.exec(`UPDATE jobs SET status = 'canceling', cancel_requested_at_ms = ?, cancel_reason = ?
		WHERE id = ? AND status IN ('queued', 'running')`, nowMs, reason, id); err != nil {
		return false, err
	}
	return tx.changed(), nil
}

// RequestCancelOwned is RequestCancel for a job run by token, keeping an
// earlier request's time and reason.
func (tx *Tx) RequestCancelOwned(id int64, token string, nowMs int64, reason string) error {
	return tx.exec(`UPDATE jobs SET status = 'canceling', cancel_requested_at_ms = COALESCE(cancel_requested_at_ms, ?),
		cancel_reason = COALESCE(cancel_reason, ?) WHERE id = ? AND owner_token = ? AND status IN ('queued', 'running')`,
		nowMs, reason, id, token)
}

// EndCanceled ends an active job nobody runs any more as canceled.
func (tx *Tx) EndCanceled(id, nowMs int64, message, detail string) error {
	return tx.exec(`UPDATE jobs SET status = 'canceled', canceled_at_ms = ?, finished_at_ms = ?, error_code = 'canceled',
		message = ?, detail = ? WHERE id = ? AND status IN `+activeStatuses, nowMs, nowMs, message, detail, id)
}

// SetPartials records the partial pack directories a job created.
func (tx *Tx) SetPartials(id int64, dirs []string) error {
	b, _ := json.Marshal(dirs)
	return tx.exec(`UPDATE jobs SET partial_dirs = ? WHERE id = ?`, string(b), id)
}

// LastJobCreatedAt is the creation time of the newest job (nil without jobs).
func (tx *Tx) LastJobCreatedAt() (*int64, error) {
	var out *int64
	err := tx.query(`SELECT MAX(created_at_ms) FROM jobs`, func(stmt *sqlite.Stmt) error {
		if !stmt.ColumnIsNull(0) {
			v := stmt.ColumnInt64(0)
			out = &v
		}
		return nil
	})
	return out, err
}

// Verification is the outcome of a restore drill recorded on its job.
type Verification struct {
	Status       string
	Detail       string
	VerifiedBy   string
	VerifiedAtMs *int64 // nil keeps the earlier value
	DrillID      string
}

// SetVerification records a drill's outcome on its job.
func (tx *Tx) SetVerification(jobID int64, v Verification) error {
	return tx.exec(`UPDATE jobs SET verification_status = ?, verification_detail = ?, verified_by = ?,
		verified_at_ms = COALESCE(?, verified_at_ms), last_restore_drill_id = ? WHERE id = ?`,
		v.Status, v.Detail, v.VerifiedBy, nint(v.VerifiedAtMs), v.DrillID, jobID)
}

// SetPendingPack records the pack a job is about to rename into place.
func (tx *Tx) SetPendingPack(id int64, pack, hash string) error {
	return tx.exec(`UPDATE jobs SET pending_pack = ?, pending_hash = ? WHERE id = ?`, pack, hash, id)
}

// CompleteRecovered ends a job that died after its pack was complete as
// completed, with its pack.
func (tx *Tx) CompleteRecovered(id, nowMs int64, packDir, packName, hash, message, detail string) error {
	return tx.exec(`UPDATE jobs SET status = 'completed', progress = 100, error_code = NULL, output_dir = ?, pack_name = ?,
		package_hash = ?, message = ?, detail = ?, finished_at_ms = COALESCE(finished_at_ms, ?) WHERE id = ?`,
		packDir, packName, hash, message, detail, nowMs, id)
}
