package i18n

// apiEN holds the sentences the HTTP API writes for people, in English.
var apiEN = map[string]string{
	"api.start_refused": "The backup cannot start: %s",
	"api.list_sep":      "; ",
	"api.busy_other":    "The backup lock is held by a restore drill, a real restore or a pack verification (for job %d); try again when it has ended.",
	"api.refused.local_backup_target_not_configured": "The backup cannot start: no backup target directory is configured (setting target_local_dir).",
	"api.refused.project_not_configured":             "The backup cannot start: no compose project is configured (setting ragflow_project_name, or ragflow_compose_path to derive it from).",
}

func init() { add(English, apiEN) }
