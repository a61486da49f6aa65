package jobs

import "github.com/dockpack/dockpack/backup/restore"

// ErrRestoreConflict: a real restore cannot run now (a backup holds the
// lock, the live database stays in use or is missing); nothing was changed.
var ErrRestoreConflict = restore.ErrLiveConflict

// RestoreError is a refused (or failed) real restore (restore.LiveError):
// Code is the stable machine code (RagFlowAuth's where it has one, e.g.
// "restore_confirmation_text_invalid"); Message says why, in Config.Lang.
// It matches backup.ErrInvalidSpec (the request or the pack is at fault:
// HTTP 400) or, when Conflict, ErrRestoreConflict (409).
type RestoreError = restore.LiveError

// refuse is a RestoreError with its message in the configured language.
func (m *Manager) refuse(code string, conflict bool, err error, key string, args ...any) *RestoreError {
	return restore.NewLiveError(m.cfg.Lang, code, conflict, err, key, args...)
}
