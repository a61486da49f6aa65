package i18n

// planStoreEN holds the plan's store estimate in English.
var planStoreEN = map[string]string{
	"plan.store":                   "store    the target's pack store %s lacks an estimated %s of the %s this backup reads (only what it lacks is written)",
	"plan.store_new":               "store    the target holds no pack store yet: this first store backup writes all %s",
	"plan.store_part":              "         %s: %s of %s (%s)",
	"plan.store_how.new_store":     "no store yet",
	"plan.store_how.by_digest":     "each image config and layer looked up in the store by digest",
	"plan.store_how.history":       "the share of each file that the newest store pack %s added",
	"plan.store_how.no_history":    "no store pack of the project tells yet how much of it changes: all of it",
	"plan.store_component.db":      "database",
	"plan.store_component.volumes": "volumes",
	"plan.store_component.images":  "images",
}

func init() { add(English, planStoreEN) }
