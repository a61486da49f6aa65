package httpapi_test

import (
	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/httpapi"
)

// The real Manager is a Backend with every optional interface.
var (
	_ httpapi.Backend          = (*backup.Manager)(nil)
	_ httpapi.JobLogger        = (*backup.Manager)(nil)
	_ httpapi.LockReporter     = (*backup.Manager)(nil)
	_ httpapi.ScheduleReporter = (*backup.Manager)(nil)
)
