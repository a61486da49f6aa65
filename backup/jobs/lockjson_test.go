package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
)

func TestLockInfoJSONOmitsZeroTimes(t *testing.T) {
	b, err := json.Marshal(jobs.LockInfo{})
	if err != nil || strings.Contains(string(b), "0001-01-01") || strings.Contains(string(b), "acquired_at") {
		t.Fatalf("free lock JSON: %s %v", b, err)
	}
	at := time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)
	b, _ = json.Marshal(jobs.LockInfo{Held: true, JobID: 7, AcquiredAt: at, ExpiresAt: at})
	if !strings.Contains(string(b), `"acquired_at":"2026-11-24T01:02:03Z"`) || !strings.Contains(string(b), `"job_id":7`) || strings.Contains(string(b), "renewed_at") {
		t.Fatalf("held lock JSON: %s", b)
	}
}
