//go:build integration

package integration_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
)

// A PUT to a pinned setting is refused (409); a PUT of the retention and of
// a schedule changes what the daemon does: fewer packs are kept, and a
// scheduled backup runs (or is counted as skipped while one runs).
func TestDaemonSettingsPinnedRetentionSchedule(t *testing.T) {
	s := dmNewStack(t, 16<<10)
	target := MustTmpfs(t, 128<<20)
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s}) // scheduler on; --target pins target_local_dir
	const cp = "/api/admin/data-security"
	put := func(path, body string) (int, map[string]any) {
		code, b := d.do("PUT", path, body)
		return code, dmJSON(t, b)
	}

	// A schedule firing every minute; its run is checked at the end.
	code, m := put("/v1/settings", `{"incremental_schedule": "* * * * *", "change_reason": "test schedule"}`)
	if code != 200 || m["incremental_schedule"] != "* * * * *" {
		t.Fatalf("PUT schedule: %d %v", code, m)
	}
	var sched jobs.ScheduleStatus
	_, b := d.do("GET", "/v1/schedule", "")
	if err := json.Unmarshal(b, &sched); err != nil || sched.NextIncremental == nil {
		t.Fatalf("schedule after PUT: %s (%v)", b, err)
	}
	next := *sched.NextIncremental
	if wait := time.Until(next); wait <= 0 || wait > 61*time.Second {
		t.Errorf("next incremental run in %v, want within a minute", wait)
	}

	// Pinned by --target: refused, and unchanged.
	code, m = put(cp+"/settings", `{"target_local_dir": "/mnt/elsewhere", "change_reason": "move it"}`)
	if code != http.StatusConflict || m["detail"] != "setting_pinned:target_local_dir" || len(m) != 1 {
		t.Errorf("compat PUT of a pinned setting: %d %v", code, m)
	}
	code, m = put("/v1/settings", `{"target_local_dir": "/mnt/elsewhere", "change_reason": "move it"}`)
	if code != http.StatusConflict || m["error"] != "setting_pinned:target_local_dir" {
		t.Errorf("native PUT of a pinned setting: %d %v", code, m)
	}
	if got := d.settings(); got["target_local_dir"] != target || !dmContains(got["pinned_fields"], "target_local_dir") {
		t.Errorf("settings after refused PUT: target %v pinned %v", got["target_local_dir"], got["pinned_fields"])
	}

	// Retention: 30 keeps both packs; after a PUT of 1 the next backup leaves one.
	runOne := func() jobs.Job {
		t.Helper()
		var id int64
		dmWait(t, 60*time.Second, "a backup accepted", func() bool {
			code, b := d.do("POST", cp+"/backup/run", "{}")
			if code == http.StatusConflict { // a scheduled run holds the lock: wait for it
				return false
			}
			if code != 200 {
				t.Fatalf("run: %d %s", code, b)
			}
			id = int64(dmJSON(t, b)["job_id"].(float64))
			return true
		})
		j := d.waitEnded(id, 60*time.Second)
		dmAssertPack(t, j)
		return j
	}
	runOne()
	runOne()
	if packs, _ := TargetDirs(t, target); len(packs) < 2 {
		t.Errorf("packs with retention 30: %v, want at least 2", packs)
	}
	code, m = put(cp+"/settings", `{"backup_retention_max": 1, "change_reason": "keep only the newest"}`)
	if code != 200 || m["backup_retention_max"] != float64(1) {
		t.Fatalf("PUT retention: %d %v", code, m)
	}
	last := runOne()
	packs, _ := TargetDirs(t, target)
	if len(packs) != 1 || last.PackName == nil || packs[0] != *last.PackName {
		t.Errorf("packs with retention 1: %v, want only %v", packs, last.PackName)
	}
	if got := d.settings(); got["local_backup_pack_count"] != float64(len(packs)) {
		t.Errorf("local_backup_pack_count %v, %d packs on disk", got["local_backup_pack_count"], len(packs))
	}

	// The schedule fired: a scheduled job exists, or the firing was skipped because one ran.
	fired := func() (bool, string) {
		_, b := d.do("GET", "/v1/jobs?limit=200", "")
		var list struct{ Jobs []jobs.Job }
		json.Unmarshal(b, &list)
		for _, j := range list.Jobs {
			if j.Trigger == "schedule" {
				return true, "scheduled job " + dmItoa(j.ID) + " " + string(j.Status)
			}
		}
		var st jobs.ScheduleStatus
		_, b = d.do("GET", "/v1/schedule", "")
		json.Unmarshal(b, &st)
		if st.SkippedTotal > 0 {
			return true, "firing skipped: " + st.LastSkippedReason
		}
		return false, ""
	}
	var how string
	dmWait(t, time.Until(next)+30*time.Second, "the scheduled backup fired", func() bool {
		ok, h := fired()
		how = h
		return ok
	})
	t.Logf("schedule set at PUT, next run %s: %s", next.Format(time.TimeOnly), how)

	// Clearing it (null) stops the schedule.
	code, m = put(cp+"/settings", `{"incremental_schedule": null, "change_reason": "no more"}`)
	if code != 200 || m["incremental_schedule"] != nil {
		t.Errorf("PUT null schedule: %d %v", code, m)
	}
	_, b = d.do("GET", "/v1/schedule", "")
	if err := json.Unmarshal(b, &sched); err != nil || sched.NextIncremental != nil {
		t.Errorf("schedule after clearing: %s", b)
	}
	// Let a scheduled job that still runs end before the cleanup.
	_, b = d.do("GET", "/v1/jobs?status=running", "")
	var running struct{ Jobs []jobs.Job }
	json.Unmarshal(b, &running)
	for _, j := range running.Jobs {
		d.waitEnded(j.ID, 60*time.Second)
	}
	dmAssertClean(t, target, s)
}

func dmContains(list any, s string) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
