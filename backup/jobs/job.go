package jobs

import (
	"errors"
	"fmt"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/settings"
)

// JobStatus is a job's state; the values are RagFlowAuth's.
type Status string

// Job states.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusCanceling Status = "canceling"
	StatusCanceled  Status = "canceled"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
)

// Active reports whether a job in this state may still change (canceling included).
func (s Status) Active() bool { return s == StatusQueued || s == StatusRunning || s == StatusCanceling }

// Job kinds: "full" when images are included, else "incremental"
// (RagFlowAuth's word for database + volumes).
type Kind string

// The job kinds.
const (
	KindFull        Kind = "full"
	KindIncremental Kind = "incremental"
)

// Verification statuses of a job's pack.
const (
	VerificationNotVerified = "not_verified"
	VerificationPassed      = "passed"
	VerificationFailed      = "failed"
	VerificationBlocked     = "blocked"
)

// Job is one backup job as stored and as served (JSON field names are the
// RagFlowAuth frontend's; nullable fields are pointers).
type Job struct {
	ID                  int64   `json:"id"`
	Kind                Kind    `json:"kind"`
	Status              Status  `json:"status"`
	Progress            int     `json:"progress"`
	Message             *string `json:"message"`
	Detail              *string `json:"detail"`
	OutputDir           *string `json:"output_dir"`
	PackageHash         *string `json:"package_hash"`
	CreatedAtMs         int64   `json:"created_at_ms"`
	StartedAtMs         *int64  `json:"started_at_ms"`
	FinishedAtMs        *int64  `json:"finished_at_ms"`
	CancelRequestedAtMs *int64  `json:"cancel_requested_at_ms"`
	CancelReason        *string `json:"cancel_reason"`
	CanceledAtMs        *int64  `json:"canceled_at_ms"`
	VerificationStatus  string  `json:"verification_status"`
	VerificationDetail  *string `json:"verification_detail"`
	VerifiedBy          *string `json:"verified_by"`
	VerifiedAtMs        *int64  `json:"verified_at_ms"`
	LastRestoreDrillID  *string `json:"last_restore_drill_id"`

	// dockpack's own fields.
	Project       string           `json:"project"`
	Components    []pack.Component `json:"components"`
	Trigger       string           `json:"trigger"` // manual | schedule | api
	Step          *string          `json:"step"`
	BytesDone     int64            `json:"bytes_done"`
	BytesTotal    int64            `json:"bytes_total"`
	ErrorCode     *string          `json:"error_code"`
	HeartbeatAtMs *int64           `json:"heartbeat_at_ms"`
	PackName      *string          `json:"pack_name"`
	// Store is what a store backup read, added and reused per component
	// (absent for classic backups and jobs that did not complete).
	Store backup.StoreStats `json:"store,omitempty"`
	// Encryption says whether a completed backup's pack is sealed and to
	// which recipients (encryption.go; absent when unknown).
	Encryption *Encryption `json:"encryption,omitempty"`
}

// JobRequest asks the Manager for a backup.
type Request struct {
	// Components to include; nil means database + volumes (RagFlowAuth's
	// "incremental"), plus images when Full is set and the settings
	// include images in full backups.
	Components []pack.Component
	// Full is RagFlowAuth's run-full.
	Full bool
	// Trigger records who asked: "manual", "schedule" or "api".
	Trigger string
}

// ListOptions filters Manager.List.
type ListOptions struct {
	Limit  int    // 1..200, default 30
	Status Status // "" = all
}

// LogLine is one recent log line of a job.
type LogLine struct {
	AtMs    int64  `json:"at_ms"`
	Level   string `json:"level"`
	Message string `json:"message"`
}

// Event is what Manager.Subscribe delivers: progress, log lines, and one
// final event carrying the finished job.
type Event struct {
	Type     string           `json:"type"` // "progress" | "log" | "final"
	JobID    int64            `json:"job_id"`
	Progress *progress.Report `json:"progress,omitempty"`
	Log      *LogLine         `json:"log,omitempty"`
	Job      *Job             `json:"job,omitempty"`
}

// Job-system errors.
var (
	// ErrBusy: another backup holds the lock; see BusyError for its job id.
	ErrBusy = errors.New("backup_job_already_running")
	// ErrJobNotFound: no job with that id.
	ErrJobNotFound = statedb.ErrNoJob
	// ErrSettingPinned: the setting is fixed by the daemon's configuration.
	ErrSettingPinned = errors.New("setting_pinned")
	// ErrInvalidSettings: a settings update is not acceptable.
	ErrInvalidSettings = settings.ErrInvalid
	// ErrJobNotActive: the job already ended (e.g. cancel of a finished job).
	ErrJobNotActive = errors.New("job_not_active")
	// ErrClosed: the manager is shut down.
	ErrClosed = errors.New("manager_closed")
	// ErrTargetMissing: the configured target directory does not exist (the
	// share is probably not mounted).
	ErrTargetMissing = errors.New("target_not_found")
)

// BusyError is returned by Manager.Start while a live lease is held.
type BusyError struct {
	JobID int64 // the job holding the lock
	Owner string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("a backup is already running (job %d, %s): wait for it or cancel it", e.JobID, e.Owner)
}

// Is makes BusyError match ErrBusy.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// PinnedError names the pinned setting a PUT tried to change.
type PinnedError struct{ Field string }

func (e *PinnedError) Error() string {
	return fmt.Sprintf("setting %s is pinned by the daemon's configuration (flag, environment or YAML); change it there", e.Field)
}

// Is makes PinnedError match ErrSettingPinned.
func (e *PinnedError) Is(target error) bool { return target == ErrSettingPinned }

// clampLimit is a list limit clamped to 1..200, 0 meaning 30.
func clampLimit(n int) int {
	if n == 0 {
		return 30
	}
	return min(max(n, 1), 200)
}

func (o ListOptions) limit() int { return clampLimit(o.Limit) }
