// Package sentinel holds the sentinels shared by every package under backup/,
// defined once here (so that the lowest packages can wrap them) and exported
// by package backup as backup.ErrInvalidSpec and backup.ErrPrecheck.
package sentinel

import "errors"

var (
	// ErrInvalidSpec marks input that cannot be used as given (a usage error).
	ErrInvalidSpec = errors.New("invalid backup spec")
	// ErrPrecheck marks an operation refused before anything was changed.
	ErrPrecheck = errors.New("precheck refused the backup")
)
