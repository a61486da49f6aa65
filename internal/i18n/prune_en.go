package i18n

// pruneEN holds the prune messages in English.
var pruneEN = map[string]string{
	// prune: why a pack is deleted (PruneReason codes)
	"prune.reason.beyond_keep": "beyond the %d newest",
	"prune.reason.max_age":     "older than %s",
	"prune.reason.partial":     "partial, older than %s",
	// prune: the CLI's report
	"prune.newest":         "newest pack %s: %s check %s",
	"prune.newest.good":    "good",
	"prune.newest.failed":  "FAILED",
	"prune.deleted":        "deleted",
	"prune.would_delete":   "would delete",
	"prune.refused":        "NOT deleted (refused)",
	"prune.kept":           "kept",
	"prune.nothing":        "nothing to delete",
	"prune.refused_reason": "the newest pack fails verification: the older packs may be the only good ones (check it with `dockpack verify`, or prune with --force)",
}

func init() { add(English, pruneEN) }
