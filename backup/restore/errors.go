package restore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/i18n"
)

// Restore errors.
var (
	// ErrRefused: the plan has problems (a non-empty volume without
	// Force, a volume in use without StopRunning, …); nothing was changed.
	// The concrete error is a *RefusedError; it also matches ErrPrecheck.
	ErrRefused = errors.New("restore refused")
	// ErrFailed marks a restore that failed while changing things; the
	// concrete error is a *StepError. Running it again is safe.
	ErrFailed = errors.New("restore failed")
	// ErrImageMismatch: after the load, a tag does not resolve to the
	// recorded config digest.
	ErrImageMismatch = errors.New("restored image does not match the pack")
	// ErrPackChanged: a pack file did not match its checksum while it was restored.
	ErrPackChanged = errors.New("pack file changed")
)

// RefusedError lists why a restore cannot run as asked.
type RefusedError struct {
	Pack     string
	Problems []string // in Lang
	Lang     string   // the language of the message (default English)
}

func (e *RefusedError) Error() string {
	return i18n.T(e.Lang, "restore.refused", e.Pack, strings.Join(e.Problems, "; "))
}

// Is makes RefusedError match ErrRefused and ErrPrecheck.
func (e *RefusedError) Is(target error) bool {
	return target == ErrRefused || target == backup.ErrPrecheck
}

// StepError says which step of a restore failed, on which item.
type StepError struct {
	Step progress.Step
	Item string
	Err  error
}

func (e *StepError) Error() string {
	item := ""
	if e.Item != "" {
		item = " (" + e.Item + ")"
	}
	return fmt.Sprintf("%s: step %s%s: %v; running the restore again is safe", ErrFailed, e.Step, item, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Is makes StepError match ErrFailed.
func (e *StepError) Is(target error) bool { return target == ErrFailed }
