package i18n

// storeEN holds the pack store's messages in English.
var storeEN = map[string]string{
	// verify of a store pack (format 2)
	"verify.blob_damaged":  "stored chunks of this file are damaged or missing: the file cannot be restored",
	"verify.chunk_list":    "the file's chunk list is missing or disagrees with the manifest",
	"verify.store_missing": "the target's pack store cannot be read",
	"verify.ok.store":      "the sampled bundles read back as written",
	// packs: store columns
	"packs.col.format": "FORMAT",
	"packs.col.added":  "ADDED",
	// prune: garbage collection of the store
	"prune.gc":         "store: %d bundles kept, %d rewritten, %d deleted (%s freed, %s rewritten)",
	"prune.gc.skipped": "store: garbage collection skipped: %s",
}

func init() { add(English, storeEN) }
