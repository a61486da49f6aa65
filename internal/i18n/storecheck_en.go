package i18n

// storecheckEN holds the doctor's pack store check in English.
var storecheckEN = map[string]string{
	"check.title.store":       "pack store",
	"check.ev.store_id":       "store id",
	"check.ev.store_format":   "format",
	"check.ev.store_leases":   "leases",
	"check.ev.store_lease":    "lease",
	"check.ev.store_index":    "index",
	"check.ev.store_damaged":  "damaged bundles",
	"check.ev.store_packs":    "store packs checked",
	"check.ev.store_missing":  "packs missing data",
	"doctor.store.s3":         "the pack store of an s3:// target is not checked here: run dockpack verify on its packs",
	"doctor.store.no_target":  "the target %s cannot be opened (the target check says why)",
	"doctor.store.none":       "no pack store in %s (classic packs only)",
	"doctor.store.unreadable": "the pack store in %s cannot be read",
	"doctor.store.unreadable.fix": "check the target's .dockpack/config.json and its permissions; a store made by a newer " +
		"dockpack needs that version",
	"doctor.store.index_unreadable": "the pack store's index in %s cannot be read",
	"doctor.store.damaged":          "%d bundles the store's index lists are missing or have another size",
	"doctor.store.damaged.fix": "run dockpack verify on the store packs: it names the packs that use them (they cannot be " +
		"restored); remove those with dockpack prune and check the target's storage",
	"doctor.store.missing": "%d store packs reference chunks the store's index does not list",
	"doctor.store.missing.fix": "those packs cannot be restored: run dockpack verify on them, and make sure nothing but " +
		"dockpack deletes files in the target",
	"doctor.store.unindexed":       "%d bundles no index lists (left by interrupted backups)",
	"doctor.store.unindexed.fix":   "harmless: the next dockpack prune removes them",
	"doctor.store.locked":          "the store is held exclusively by %s (host %s, pid %d): backups wait for it",
	"doctor.store.locked.fix":      "a prune is collecting garbage; should it have died, its lease expires by itself",
	"doctor.store.stale_lease":     "%d leases of owners that died or whose lease expired are left in the store",
	"doctor.store.stale_lease.fix": "harmless: the next backup or prune removes them",
	"doctor.store.ok":              "pack store: %d bundles, %d blobs; the index agrees with the bundles and the store packs",
}

func init() { add(English, storecheckEN) }
