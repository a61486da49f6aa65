package backup

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// Sentinel errors of the backup package.
var (
	// ErrPrecheck marks a backup refused before anything was written.
	ErrPrecheck = sentinel.ErrPrecheck
	// ErrNothingToBackUp: the selected components hold nothing for this project.
	ErrNothingToBackUp = errors.New("nothing to back up")
	// ErrStalled: a step made no byte progress for the stall timeout.
	ErrStalled = errors.New("backup stalled")
	// ErrInterrupted: the process running the job died.
	ErrInterrupted = errors.New("backup interrupted")
	// ErrLeaseLost: another process took over this job's lock lease.
	ErrLeaseLost = errors.New("backup lock lease lost")
)

// StepError says which step of a backup failed (and on which item).
type StepError struct {
	Step progress.Step
	Item string // a volume name, file, … (may be empty)
	Err  error
}

func (e *StepError) Error() string {
	if e.Item != "" {
		return fmt.Sprintf("backup step %s (%s): %v", e.Step, e.Item, e.Err)
	}
	return fmt.Sprintf("backup step %s: %v", e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Is makes every precheck StepError match ErrPrecheck.
func (e *StepError) Is(target error) bool {
	return target == ErrPrecheck && e.Step == progress.StepPrecheck
}

func stepErr(step progress.Step, item string, err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	return &StepError{Step: step, Item: item, Err: err}
}

// FailedStep returns the step a backup error came from, or "".
func FailedStep(err error) progress.Step {
	var se *StepError
	if errors.As(err, &se) {
		return se.Step
	}
	return ""
}

// ErrorCode maps an error to the stable machine code shown in job JSON
// (`error_code`) and metrics. It is the one place that mapping lives.
func ErrorCode(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.Is(err, ErrInterrupted):
		return "interrupted"
	case errors.Is(err, ErrLeaseLost):
		return "lease_lost"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrInvalidSpec):
		return "invalid_spec"
	case errors.Is(err, dockerapi.ErrEngineUnreachable):
		return "engine_unreachable"
	case errors.Is(err, dockerapi.ErrProjectNotFound):
		return "project_not_found"
	case errors.Is(err, ErrNothingToBackUp):
		return "nothing_to_back_up"
	case errors.Is(err, mountcheck.ErrNotMounted):
		return "target_not_mounted"
	case errors.Is(err, mountcheck.ErrFSType):
		return "target_wrong_fstype"
	case errors.Is(err, mountcheck.ErrReadOnly):
		return "target_read_only"
	case errors.Is(err, mountcheck.ErrProbeTimeout):
		return "target_probe_timeout"
	case errors.Is(err, mountcheck.ErrProbe):
		return "target_probe_failed"
	case errors.Is(err, mountcheck.ErrInsufficientSpace):
		return "insufficient_space"
	case errors.Is(err, mountcheck.ErrMountChanged):
		return "mount_changed"
	case errors.Is(err, syscall.ENOSPC):
		return "no_space_left"
	case errors.Is(err, sqlitesnap.ErrBusy):
		return "sqlite_busy"
	case errors.Is(err, sqlitesnap.ErrCorrupt), errors.Is(err, sqlitesnap.ErrNotDatabase):
		return "sqlite_corrupt"
	case errors.Is(err, sqlitesnap.ErrNotFound):
		return "sqlite_not_found"
	case errors.Is(err, dockerapi.ErrImageSaveIncomplete):
		return "image_save_incomplete"
	case errors.Is(err, dockerapi.ErrVolumeExportIncomplete):
		return "volume_export_incomplete"
	case errors.Is(err, ErrHookFailed):
		return "hook_failed"
	case errors.Is(err, ErrDumpFailed):
		return "dump_failed"
	case errors.Is(err, precheck.ErrIncomplete):
		return "pack_incomplete"
	case errors.Is(err, seal.ErrPlaintextRefused):
		return "plaintext_refused"
	case errors.Is(err, seal.ErrNotWired):
		return "encryption_not_wired"
	case errors.Is(err, seal.ErrNoIdentity):
		return "age_identity_missing"
	case errors.Is(err, seal.ErrWrongIdentity):
		return "age_identity_wrong"
	case errors.Is(err, seal.ErrNamingKey), errors.Is(err, seal.ErrNamingKeyExists):
		return "naming_key"
	case errors.Is(err, ErrPrecheck):
		return "precheck_failed"
	}
	return "failed"
}
