package httpapi_test

import (
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
)

// The real Manager is a Backend with every optional interface.
var (
	_ httpapi.Backend          = (*jobs.Manager)(nil)
	_ httpapi.JobLogger        = (*jobs.Manager)(nil)
	_ httpapi.LockReporter     = (*jobs.Manager)(nil)
	_ httpapi.ScheduleReporter = (*jobs.Manager)(nil)
)
