package jobs

import (
	"errors"

	"github.com/dockpack/dockpack/backup"
)

// ErrRestoreConflict: a real restore cannot run now (a backup holds the
// lock, the live database stays in use or is missing); nothing was changed.
var ErrRestoreConflict = errors.New("restore_conflict")

// RestoreError is a refused (or failed) real restore. Code is the stable
// machine code (RagFlowAuth's where it has one, e.g.
// "restore_confirmation_text_invalid"); Message says why, in Config.Lang.
// It matches backup.ErrInvalidSpec (the request or the pack is at fault:
// HTTP 400) or, when Conflict, ErrRestoreConflict (409).
type RestoreError struct {
	Code     string
	Message  string
	Conflict bool
	Err      error // the underlying error, if any
}

func (e *RestoreError) Error() string { return e.Code + ": " + e.Message }

// Is makes a RestoreError match backup.ErrInvalidSpec or ErrRestoreConflict.
func (e *RestoreError) Is(target error) bool {
	if e.Conflict {
		return target == ErrRestoreConflict
	}
	return target == backup.ErrInvalidSpec
}

func (e *RestoreError) Unwrap() error { return e.Err }

// refuse is a RestoreError with its message in the configured language.
func (m *Manager) refuse(code string, conflict bool, err error, key string, args ...any) *RestoreError {
	return &RestoreError{Code: code, Message: m.tr(key, args...), Conflict: conflict, Err: err}
}
