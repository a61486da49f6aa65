package i18n

// consistencyEN holds the messages of application-consistent packs in
// English: the compose check, hooks and dumps while a backup runs, binds
// and dumps on restore.
var consistencyEN = map[string]string{
	// precheck: the compose check
	"check.title.compose":         "compose",
	"check.ev.model":              "compose model",
	"check.ev.compose_files":      "compose files",
	"check.ev.profiles":           "profiles in use",
	"check.ev.service":            "service",
	"check.ev.volume_capture":     "volume",
	"check.ev.bind":               "bind mount",
	"check.ev.bind_captured":      "bind mount in the pack",
	"check.ev.stop_order":         "stop order",
	"check.ev.warning":            "warning",
	"precheck.compose.skip":       "not checked: the stack was not resolved",
	"precheck.compose.ok":         "%d services: %d with hooks, %d with dumps; volumes: %d exported, %d covered by dumps, %d excluded; %d bind mount(s) captured",
	"precheck.compose.ok_nomodel": "no compose model here: hooks (%d services) and dumps (%d) from the containers' labels; completeness against the model not checked; %d bind mount(s) captured",

	"precheck.compose.label_invalid":        "service %s: a dockpack label cannot be used",
	"precheck.compose.label_invalid.fix":    "correct the label (see the error and docs/consistency.md): durations like 90s, hook-on-error fail or continue, a known preset, quotes closed",
	"precheck.compose.dump_not_running":     "service %s has a dump but no running container",
	"precheck.compose.dump_not_running.fix": "start the service (the dump runs in it), or remove its dockpack.dump label",
	"precheck.compose.volume_missed":        "the named volume %s of the compose model would not be in the pack",
	"precheck.compose.volume_missed.fix":    "start the service that mounts it, or label the service dockpack.volumes=exclude (with a dump, or dockpack.exclude-reason saying why)",
	"precheck.compose.volume_absent":        "the named volume %s of the compose model does not exist on the engine (excluded)",
	"precheck.compose.volume_absent.fix":    "nothing to back up; compose creates it empty when the service starts",
	"precheck.compose.bind_uncaptured":      "the bind mount %s would not be in the pack (--strict)",
	"precheck.compose.bind_uncaptured.fix":  "declare it in the compose file, make it readable from here, raise --bind-max-size, or leave out --strict",
	"precheck.compose.anonymous":            "the anonymous volume at %s would not be in the pack (--strict)",
	"precheck.compose.anonymous.fix":        "give it a name in the compose file, or leave out --strict",
	"precheck.compose.hook_not_running":     "service %s has hooks but no running container: they are skipped",
	"precheck.compose.hook_not_running.fix": "start the service if its hooks matter",
	"precheck.compose.model_unreadable":     "the compose files do not read: completeness against the model is not checked",
	"precheck.compose.model_unreadable.fix": "see the evidence; make the compose files (and the variables they need) available where dockpack runs",

	// backup: hooks, dumps, binds
	"job.hooks.pre":  "running pre-backup hooks: %s",
	"job.hooks.post": "running post-backup hooks: %s",
	"job.dump":       "dumping service %s into %s",
	"job.binds":      "capturing %d bind mount(s)",

	// restore: binds, dumps, the next step
	"restore.progress.binds":     "restoring bind mount %s",
	"restore.progress.dump":      "loading %s into service %s",
	"restore.next.dumps":         "next: start the stack (docker compose -p %s up -d, or docker-compose), then load the dumps with: dockpack restore %s --dumps",
	"restore.next.binds":         "the pack holds %d bind-mounted file(s) or directories; restore them with --binds (to their paths) or --binds-root DIR",
	"restore.note.binds_skipped": "bind mounts are not restored (give --binds or --binds-root)",
	"restore.problem.bind":       "bind mount %s: %s",
	"restore.reason.bind_exists": "%s holds data (--force restores over it)",
	"restore.dumps.none":         "the pack %s holds no dump",
	"restore.dumps.not_running":  "service %s has no running container in project %s: start the stack first (docker compose up -d)",
	"restore.dumps.no_command":   "service %s: the pack records no restore command (dockpack.restore-dump); load %s by hand",
	"restore.dumps.done":         "loaded %s into %s (%s, exit %d)",
	"restore.dumps.all":          "%d dump(s) loaded into project %s",
	"restore.dumps.restarted":    "started %s again (its restore command stopped it to load the dump)",

	// show: the consistency section of a pack
	"show.col.service":       "SERVICE",
	"show.col.stopped":       "STOPPED",
	"show.col.captured":      "CAPTURED",
	"show.col.hooks":         "HOOKS",
	"show.col.bind":          "BIND MOUNT",
	"show.cs.nomodel":        "compose model not read (%s): hooks and dumps from the containers' labels",
	"show.cs.volume":         "%s → %s",
	"show.cs.by_dump":        "%s → covered by the dump %s",
	"show.cs.excluded":       "%s excluded: %s",
	"show.cs.dump":           "dump %s (%s in %d ms)",
	"show.cs.hook":           "%s %s (exit %d, %d ms)",
	"show.cs.hook.ok":        "ok",
	"show.cs.hook.failed":    "failed",
	"show.cs.hook.continued": "failed, continued",
	"show.cs.hook.timed_out": "killed at its timeout",
	"show.cs.hook.skipped":   "skipped (not running)",
	"show.cs.yes":            "yes",
	"show.cs.no":             "no",
	"show.cs.stop_order":     "stop order: %s (started again in reverse)",
	"show.cs.profiles":       "compose profiles in use: %s",
	"show.cs.preset":         "%s (preset %s)",
}

func init() { add(English, consistencyEN) }
