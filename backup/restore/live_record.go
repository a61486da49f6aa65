package restore

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/dockpack/dockpack/internal/i18n"
)

// LiveConfirmation is the text a live restore must be confirmed with.
const LiveConfirmation = "RESTORE"

// Statuses of a live restore's record.
const (
	LiveRunning   = "running"
	LiveCompleted = "completed"
	LiveFailed    = "failed"
)

// LiveRequest asks for a live restore of a job's database (RagFlowAuth's
// POST /restore/run body).
type LiveRequest struct {
	JobID int64 `json:"job_id"`
	// BackupPath and BackupHash must equal the job's output_dir and package_hash.
	BackupPath string `json:"backup_path"`
	BackupHash string `json:"backup_hash"`
	// ChangeReason is required: why the live data is replaced.
	ChangeReason string `json:"change_reason"`
	// ConfirmationText must be exactly LiveConfirmation ("RESTORE").
	ConfirmationText string `json:"confirmation_text"`
	// ExecutedAtMs overrides the recorded time (RagFlowAuth lets the client give it).
	ExecutedAtMs *int64 `json:"executed_at_ms"`
	// ExecutedBy is the authenticated caller (set by the HTTP layer, never
	// from the body); default "api".
	ExecutedBy string `json:"-"`
}

// Validate refuses a request that cannot be a live restore, with
// RagFlowAuth's codes (a *LiveError, its message in lang).
func (r LiveRequest) Validate(lang string) error {
	bad := func(code, key string, args ...any) error { return NewLiveError(lang, code, false, nil, key, args...) }
	switch {
	case r.JobID <= 0:
		return bad("invalid_job_id", "liverestore.invalid_job_id", r.JobID)
	case strings.TrimSpace(r.BackupPath) == "":
		return bad("backup_path_required", "liverestore.path_required")
	case strings.TrimSpace(r.BackupHash) == "":
		return bad("backup_hash_required", "liverestore.hash_required")
	case strings.TrimSpace(r.ChangeReason) == "":
		return bad("change_reason_required", "liverestore.reason_required")
	case strings.TrimSpace(r.ConfirmationText) == "":
		return bad("restore_confirmation_text_required", "liverestore.confirmation_required", LiveConfirmation)
	case strings.TrimSpace(r.ConfirmationText) != LiveConfirmation:
		return bad("restore_confirmation_text_invalid", "liverestore.confirmation_invalid", r.ConfirmationText, LiveConfirmation)
	}
	return nil
}

// LiveRecord is one live restore as recorded and served, with RagFlowAuth's
// field names plus dockpack's own (restore_id, the kept copy, the stopped
// containers). Hashes are sha256 of the database files: the restored file
// is byte-identical to the pack's.
type LiveRecord struct {
	RestoreID         string   `json:"restore_id"`
	JobID             int64    `json:"job_id"`
	BackupPath        string   `json:"backup_path"`
	BackupHash        string   `json:"backup_hash"`
	ActualBackupHash  string   `json:"actual_backup_hash"`
	HashMatch         bool     `json:"hash_match"`
	CompareMatch      bool     `json:"compare_match"`
	SourceAuthDBPath  string   `json:"source_auth_db_path"`
	SourceAuthDBHash  string   `json:"source_auth_db_hash"`
	LiveAuthDBPath    string   `json:"live_auth_db_path"`
	LiveAuthDBHash    string   `json:"live_auth_db_hash"`
	BeforeRestorePath string   `json:"before_restore_path"`
	BeforeRestoreHash string   `json:"before_restore_hash"`
	StoppedContainers []string `json:"stopped_containers"`
	ServicesRestarted bool     `json:"services_restarted"`
	ExecutedBy        string   `json:"executed_by"`
	ExecutedAtMs      int64    `json:"executed_at_ms"`
	FinishedAtMs      *int64   `json:"finished_at_ms"`
	ChangeReason      string   `json:"change_reason"`
	Status            string   `json:"status"` // running | completed | failed
	Result            string   `json:"result"` // success | failed
	Notes             string   `json:"notes"`
	Detail            *string  `json:"detail"` // why it failed
}

// NewLiveID is a new live restore id (live_restore_<16 hex digits>).
func NewLiveID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "live_restore_" + hex.EncodeToString(b)
}

// Checked records what the checks found, and the containers about to be
// stopped.
func (r *LiveRecord) Checked(c LiveChecked) {
	r.ActualBackupHash, r.HashMatch = c.PackageHash, c.PackageHash == r.BackupHash
	r.SourceAuthDBPath, r.SourceAuthDBHash = c.DB, c.DBSHA256
	for _, s := range c.Stop {
		r.StoppedContainers = append(r.StoppedContainers, s.Name)
	}
}

// End records Live's outcome (err nil: completed) at atMs, the notes in lang.
func (r *LiveRecord) End(res LiveResult, err error, atMs int64, lang string) {
	r.FinishedAtMs = &atMs
	r.BeforeRestorePath, r.BeforeRestoreHash = res.Kept, res.KeptSHA256
	r.LiveAuthDBHash, r.CompareMatch = res.SHA256, res.SHA256 != "" && res.SHA256 == r.SourceAuthDBHash
	r.ServicesRestarted = res.Restarted
	r.Status, r.Result = LiveCompleted, "success"
	r.Notes = i18n.T(lang, "liverestore.notes.done", r.JobID, r.BeforeRestorePath)
	if !r.ServicesRestarted {
		r.Notes += "; " + i18n.T(lang, "liverestore.notes.restart_failed", strings.Join(r.StoppedContainers, ", "))
	}
	if err != nil {
		r.Interrupted(err.Error(), atMs)
	}
}

// Interrupted ends the record as failed at atMs, saying why.
func (r *LiveRecord) Interrupted(why string, atMs int64) {
	r.Status, r.Result, r.FinishedAtMs, r.Detail, r.Notes = LiveFailed, "failed", &atMs, &why, why
}
