package metrics_test

import (
	"context"
	"os"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/internal/metrics"
)

// The collector counts the jobs it is told about; with a Manager attached it
// also reads the lock, the last success and the schedules at each scrape.
func ExampleCollector() {
	col := metrics.New(metrics.Options{Version: "1.0.0"})
	code := "target_not_mounted"
	col.JobEnded(jobs.Job{ID: 1, Kind: jobs.KindFull, Status: jobs.StatusFailed, ErrorCode: &code})
	col.Write(context.Background(), os.Stdout)
	// Output:
	// # HELP dockpack_build_info dockpack's version (always 1).
	// # TYPE dockpack_build_info gauge
	// dockpack_build_info{version="1.0.0"} 1
	// # HELP dockpack_job_failures_total Failed backup jobs this process finished, by error code.
	// # TYPE dockpack_job_failures_total counter
	// dockpack_job_failures_total{error_code="target_not_mounted"} 1
	// # HELP dockpack_job_running_here 1 while this process runs a backup.
	// # TYPE dockpack_job_running_here gauge
	// dockpack_job_running_here 0
	// # HELP dockpack_jobs_ended_total Backup jobs this process finished, by final status and kind.
	// # TYPE dockpack_jobs_ended_total counter
	// dockpack_jobs_ended_total{kind="full",status="failed"} 1
}
