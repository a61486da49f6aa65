package i18n

// liverestoreEN holds the messages of real restores (the live database) in English.
var liverestoreEN = map[string]string{
	"liverestore.invalid_job_id":        "job_id %d is not a job id",
	"liverestore.path_required":         "give the job's output_dir as backup_path",
	"liverestore.hash_required":         "give the job's package_hash as backup_hash",
	"liverestore.reason_required":       "say why the live data is replaced (change_reason)",
	"liverestore.confirmation_required": "type %s to confirm the real restore (confirmation_text)",
	"liverestore.confirmation_invalid":  "the confirmation %q is not %s: nothing was changed",
	"liverestore.busy":                  "a backup or a restore drill holds the backup lock (job %d): wait until it ends, nothing was changed",
	"liverestore.not_configured":        "no live database is configured (setting auth_db_path)",
	"liverestore.no_pack":               "job %d (%s) has no pack to restore",
	"liverestore.path_mismatch":         "backup_path %s is not the pack of job %d (%s)",
	"liverestore.hash_mismatch":         "backup_hash %s is not the package_hash of job %d (%s)",
	"liverestore.live_missing":          "the live database %s does not exist; restore it with dockpack restore --sqlite-dest instead",
	"liverestore.pack_unreadable":       "the pack %s cannot be read: %v",
	"liverestore.pack_changed":          "the pack's manifest hash is now %s, job %d recorded %s: the pack was changed after the backup, nothing was restored",
	"liverestore.pack_failed":           "the pack failed verification, nothing was restored: %s",
	"liverestore.no_db":                 "the pack %s holds no database",
	"liverestore.db_changed":            "the pack's database %s has sha256 %s, its manifest says %s: it was changed after the backup, nothing was restored",
	"liverestore.db_corrupt":            "the pack's database %s is not a sound database: %v; nothing was restored",
	"liverestore.engine":                "the Docker Engine cannot list the containers to stop: %v; nothing was changed",
	"liverestore.selector":              "restore_stop_services: %v",
	"liverestore.stop_failed":           "stopping %s failed: %v; nothing was restored and the containers already stopped run again",
	"liverestore.keep_failed":           "the live database %s could not be kept before the restore: %v; nothing was restored",
	"liverestore.in_use":                "the live database %s is still in use after stopping %s: %v; nothing was restored (name the containers that hold it in the setting restore_stop_services)",
	"liverestore.copy_failed":           "replacing the live database %s failed: %v; it was not changed",
	"liverestore.notes.done":            "live database restored from the pack of job %d; the replaced database is kept as %s",
	"liverestore.notes.restart_failed":  "starting %s again failed: start them by hand (the next recovery retries)",
	"liverestore.log.done":              "real restore by %s: this pack replaced the live database %s (reason: %s); the replaced database is kept as %s",
	"liverestore.log.interrupted":       "the real restore %s (by %s) was interrupted: its process died or lost the lock; the containers it stopped are started again",
	"liverestore.log.restart_failed":    "cannot start %s again (stopped by the real restore %s): %v; the next recovery retries, or start them by hand",
	"liverestore.cli.kept":              "the replaced database is kept as %s (restore it from there to undo)",
	"liverestore.log.restarted":         "started %s again (stopped by the real restore %s)",
}

func init() { add(English, liverestoreEN) }
