package i18n

// restoreEN holds the restore messages in English.
var restoreEN = map[string]string{
	// restore: notes of the plan
	"restore.note.no_sqlite_dest":  "the pack holds a database; it is not restored without --sqlite-dest",
	"restore.note.renamed":         "restoring project %s under the name %s",
	"restore.note.images_present":  "every image of the pack is on the engine already with its config digest: images.tar is not loaded",
	"restore.note.external_volume": "volume %s is not the project's own (external): it keeps its name",
	"restore.note.custom_name":     "volume %s has a custom name in the compose file: it keeps its name under project %s",
	"restore.note.driver_differs":  "volume %s keeps its driver %q and labels, which differ from the pack's: `docker compose up` may not adopt it",
	// restore: problems of the plan (each refuses the restore)
	"restore.problem.tag_moves":   "tag(s) %s name other images on the engine: loading the pack would move them (restore with --force to allow it)",
	"restore.problem.database":    "database: %s",
	"restore.problem.duplicate":   "volumes %s and %s would both be restored as %s",
	"restore.problem.volume":      "volume %s: %s",
	"restore.problem.volume_data": "volume %s %s",
	"restore.refused":             "restore refused: %s: %s; nothing was changed",
	// restore: why a volume or the database gets its action (VolumePlan.Reason, SQLitePlan.Reason)
	"restore.reason.db_not_regular": "%s exists and is not a regular file",
	"restore.reason.db_exists":      "a database exists at %s (%s): restore with --force to replace it (atomically; refused while it is in use)",
	"restore.reason.db_dir_missing": "the directory %s for the database does not exist",
	"restore.reason.duplicate":      "duplicate target name",
	"restore.reason.in_use":         "used by running container(s) %s: stop them, or restore with --stop-running",
	"restore.reason.incomplete":     "left incomplete by a failed restore of %s",
	"restore.reason.holds_data":     "exists and holds data: restore with --force to replace it",
	"restore.reason.empty":          "exists, empty",
	"restore.reason.forced":         "exists and holds data (--force)",
	"restore.reason.referenced":     "%s; referenced by container(s) %s, so it is kept and the pack's content extracted over it (files not in the pack stay; driver and labels stay as they are)",
	// restore: progress
	"restore.progress.plan":           "planning the restore",
	"restore.progress.images":         "loading %d images (%s)",
	"restore.progress.images_present": "every image of the pack is present already",
	"restore.progress.stopping":       "stopping %s while their volumes are restored",
	"restore.progress.volume":         "restoring volume %s (%s, %s)",
	"restore.progress.sqlite":         "restoring the database to %s",
	"restore.progress.done":           "restore complete",
	// restore: the CLI's plan and result
	"restore.show.pack":            "pack      %s",
	"restore.show.project":         "project   %s",
	"restore.show.project_renamed": "project   %s (packed as %s)",
	"restore.show.restoring":       "restoring %s (%s to read)",
	"restore.show.moves":           "moves %s",
	"restore.show.database":        "database  %s → %s (%s, %s) %s",
	"restore.show.stop":            "stopped while restoring, started again afterwards: %s",
	"restore.show.note":            "note: %s",
	"restore.show.refused":         "REFUSED: %s",
	"restore.show.done":            "restored %s from %s in %s",
	"restore.col.image":            "IMAGE",
	"restore.col.digest":           "CONFIG DIGEST",
	"restore.col.action":           "ACTION",
	"restore.col.note":             "NOTE",
	"restore.col.volume":           "VOLUME",
	"restore.col.from":             "FROM",
	"restore.col.content":          "CONTENT",
}

func init() { add(English, restoreEN) }
