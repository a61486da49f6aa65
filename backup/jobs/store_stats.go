package jobs

import (
	"encoding/json"

	"github.com/dockpack/dockpack/backup"
)

// storeStatsJSON is a store backup's bytes per component as stored in the
// job's row (nil: a classic backup, nothing stored).
func storeStatsJSON(s backup.StoreStats) *string {
	if s == nil {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	return ptr(string(b))
}

// storeStatsOf reads them back (nil when absent or unreadable).
func storeStatsOf(s *string) backup.StoreStats {
	if s == nil || *s == "" {
		return nil
	}
	var out backup.StoreStats
	if json.Unmarshal([]byte(*s), &out) != nil {
		return nil
	}
	return out
}
