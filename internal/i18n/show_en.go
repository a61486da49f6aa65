package i18n

// showEN holds the show messages in English.
var showEN = map[string]string{
	// show: what a pack holds
	"show.pack":        "pack          %s",
	"show.project":     "project       %s",
	"show.created":     "created       %s",
	"show.engine":      "engine        %s (API %s, %s image store)",
	"show.hash":        "package hash  %s",
	"show.size":        "size          %s",
	"show.sqlite":      "sqlite        %s → %s (SQLite %s, %s journal, %d pages, check %s)",
	"show.skipped":     "not in the pack:",
	"show.untagged":    "%s (untagged)",
	"show.external":    "%s (external)",
	"show.col.file":    "FILE",
	"show.col.kind":    "KIND",
	"show.col.size":    "SIZE",
	"show.col.sha256":  "SHA256",
	"show.col.image":   "IMAGE",
	"show.col.digest":  "CONFIG DIGEST",
	"show.col.volume":  "VOLUME",
	"show.col.driver":  "DRIVER",
	"show.col.content": "CONTENT",
	// packs: the packs of a target
	"packs.none":            "no packs",
	"packs.col.name":        "NAME",
	"packs.col.status":      "STATUS",
	"packs.col.created":     "CREATED",
	"packs.col.age":         "AGE",
	"packs.col.size":        "SIZE",
	"packs.col.project":     "PROJECT",
	"packs.col.components":  "COMPONENTS",
	"packs.status.complete": "complete",
	"packs.status.partial":  "partial",
	"packs.status.invalid":  "invalid",
}

func init() { add(English, showEN) }
