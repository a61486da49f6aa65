package i18n

// jobEN holds the job messages in English.
var jobEN = map[string]string{
	// job messages (the job's "message" and log lines; error_code and detail are never translated)
	"job.starting":               "starting",
	"job.precheck":               "checking engine, stack, target mount and free space",
	"job.sqlite":                 "snapshotting SQLite database %s",
	"job.sqlite.phase":           "SQLite %s: %d of %d %s",
	"job.volumes.stopping":       "stopping %s for a consistent copy of their volumes",
	"job.volumes.export":         "exporting volume %s",
	"job.volumes.restarting":     "starting stopped services again",
	"job.images":                 "saving %d images (%d references)",
	"job.compose":                "copying compose files",
	"job.manifest":               "writing manifest.json and SHA256SUMS",
	"job.finalize":               "syncing and renaming the pack",
	"job.pack_complete":          "pack complete: %s",
	"job.complete":               "backup complete: %s (%s)",
	"job.complete_late":          "backup complete: %s (%s); the cancel request came too late to stop it",
	"job.canceled":               "canceled: %s",
	"job.failed":                 "backup failed at step %s: %s",
	"job.interrupted":            "interrupted: the process running this backup died or lost its lock",
	"job.log.step":               "step %s: %s",
	"job.log.stop_recorded":      "stopping %s for a consistent copy of their volumes (recorded: a crash will not leave them stopped)",
	"job.log.restarted":          "started %s again",
	"job.log.restart_skipped":    "not starting %s again: another process took over the backup lock and restarted them itself",
	"job.log.restart_unrecorded": "containers %s started again, but recording it failed (%v): the next recovery will start them again (harmless)",
	"job.log.restart_failed":     "starting %s again failed: %v; the next recovery retries, or start them by hand",
	"job.log.took_over":          "took over the backup lock: %s",
	"job.log.stopping":           "stopping the backup: %v",
	"job.log.retention":          "retention (keep %d): deleted %s (%s, created %s)",
	"job.log.retention_skip":     "retention skipped: %v (the backup itself succeeded)",
	"job.log.recovered":          "recovered job %d left unfinished by host %s pid %d: marked failed (interrupted)",
	"job.log.partial_removed":    "removed partial pack %s of job %d",
	"job.log.container_started":  "started container %s again (stopped by job %d)",
	"job.log.cancel_requested":   "cancel requested: %s",
	"job.log.abandoned":          "the backup ignored cancellation for %s: releasing the lock and abandoning it",
}

func init() { add(English, jobEN) }
