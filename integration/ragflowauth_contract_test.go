//go:build integration

package integration_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/progress"
)

// The fields RagFlowAuth's page reads (fronted/src/features/dataSecurity,
// branch 13485_latest).
var (
	raSettingsFields = []string{"local_backup_target_path", "local_backup_pack_count", "backup_retention_max", "enabled",
		"incremental_schedule", "full_backup_enabled", "full_backup_schedule", "ragflow_compose_path", "ragflow_stop_services",
		"auth_db_path", "full_backup_include_images"}
	raJobFields = []string{"id", "kind", "status", "progress", "message", "detail", "output_dir", "package_hash", "verified_by",
		"verified_at_ms", "created_at_ms", "started_at_ms"}
	raDrillFields = []string{"drill_id", "job_id", "result", "restore_target", "executed_by", "executed_at_ms", "backup_path", "backup_hash",
		"package_validation_status", "acceptance_status", "hash_match", "compare_match", "actual_backup_hash", "restored_auth_db_path",
		"verification_notes"}
)

func raHas(t *testing.T, what string, m map[string]any, fields []string) {
	t.Helper()
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			t.Errorf("%s lacks %s: %v", what, f, m)
		}
	}
}

// open is the page opening: settings, jobs and drills in parallel, each
// with the wrapper the page requires.
func (p *raPage) open() (settings, list, drills map[string]any) {
	p.t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, 3)
	answers := make([]map[string]any, 3)
	for i, path := range []string{"/settings", "/backup/jobs?limit=30", "/restore-drills?limit=30"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], answers[i] = p.call("GET", raCompat+path, "")
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			p.t.Fatalf("page open: request %d answered %d %v", i, c, answers[i])
		}
	}
	raHas(p.t, "settings", answers[0], raSettingsFields)
	if _, ok := answers[0]["local_backup_pack_count"].(float64); !ok {
		p.t.Errorf("local_backup_pack_count is not a number: %v", answers[0])
	}
	jobsList, ok1 := answers[1]["jobs"].([]any)
	items, ok2 := answers[2]["items"].([]any)
	if !ok1 || !ok2 {
		p.t.Fatalf("page open: jobs %v, drills %v (arrays required)", answers[1], answers[2])
	}
	for _, j := range jobsList {
		raHas(p.t, "listed job", j.(map[string]any), raJobFields)
	}
	for _, d := range items {
		raHas(p.t, "listed drill", d.(map[string]any), raDrillFields)
	}
	return answers[0], answers[1], answers[2]
}

// refresh is what the page does after a job ends, a drill or a restore:
// jobs and drills in parallel.
func (p *raPage) refresh() (jobsList, drills []any) {
	p.t.Helper()
	var wg sync.WaitGroup
	var a, b map[string]any
	wg.Add(2)
	go func() { defer wg.Done(); _, a = p.call("GET", raCompat+"/backup/jobs?limit=30", "") }()
	go func() { defer wg.Done(); _, b = p.call("GET", raCompat+"/restore-drills?limit=30", "") }()
	wg.Wait()
	jobsList, _ = a["jobs"].([]any)
	drills, _ = b["items"].([]any)
	if jobsList == nil || drills == nil {
		p.t.Fatalf("refresh: %v %v", a, b)
	}
	return jobsList, drills
}

// start clicks 立即备份 or 全量备份: {} → 200 {"job_id": N}.
func (p *raPage) start(route string) int64 {
	p.t.Helper()
	code, r := p.call("POST", raCompat+route, "{}")
	id, _ := r["job_id"].(float64)
	if code != 200 || id == 0 || len(r) != 1 {
		p.t.Fatalf("POST %s: %d %v", route, code, r)
	}
	return int64(id)
}

// poll follows a job as the page does: at once, then every second until
// it is not queued, running or canceling; progress must never go back and
// is 100 at the end. It returns the last answer and the progress seen.
func (p *raPage) poll(id int64, limit time.Duration) (map[string]any, []int) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	var seen []int
	for {
		code, j := p.call("GET", fmt.Sprintf("%s/backup/jobs/%d", raCompat, id), "")
		if code != 200 {
			p.t.Fatalf("poll job %d: %d %v", id, code, j)
		}
		raHas(p.t, "polled job", j, raJobFields)
		pr, ok := j["progress"].(float64)
		if !ok || pr != float64(int(pr)) || pr < 0 || pr > 100 {
			p.t.Fatalf("job %d progress %v is not an integer 0-100", id, j["progress"])
		}
		if len(seen) > 0 && int(pr) < seen[len(seen)-1] {
			p.t.Errorf("job %d progress went back: %v then %v", id, seen, pr)
		}
		seen = append(seen, int(pr))
		if st := j["status"]; st != "queued" && st != "running" && st != "canceling" {
			if pr != 100 {
				p.t.Errorf("job %d ended %v with progress %v, want 100", id, st, pr)
			}
			return j, seen
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("job %d still %v after %v", id, j["status"], limit)
		}
		time.Sleep(time.Second)
	}
}

// TestRagFlowAuthPageContract replays what RagFlowAuth's newest
// data-security page sends against `dockpack serve` on the real engine,
// logged in as a RagFlowAuth admin (its own JWT): page open, 立即备份 and
// polling, the retention and advanced saves, 全量备份 with scheduled full
// backups off, an older page's settings, a drill with a Chinese target, a
// real restore, and a start while another process's backup runs.
func TestRagFlowAuthPageContract(t *testing.T) {
	s := raNewStack(t, 4<<20)
	_, sel := raWriter(t, s)
	target := MustTmpfs(t, 256<<20)
	state := t.TempDir()
	// Pack writes throttled to 2 MB/s: a backup takes a few seconds, so the
	// page's polling sees it progress.
	d := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true,
		args: append([]string{"--restore-stop", sel}, raJWTArgs...), env: append([]string{"DOCKPACK_TEST_THROTTLE_BPS=2000000"}, raJWTEnv...)})
	page := &raPage{t: t, d: d, token: raToken(t, raClaims("u-admin"), nil, nil)}
	t.Cleanup(func() { t.Logf("%d requests:\n  %s", len(page.sent), strings.Join(page.sent, "\n  ")) })

	settings, _, _ := page.open()

	// 立即备份, polled each second to the end.
	id := page.start("/backup/run")
	job, seen := page.poll(id, 2*time.Minute)
	if job["status"] != "completed" || job["kind"] != "incremental" || job["output_dir"] == nil || job["package_hash"] == nil || job["detail"] != nil {
		t.Fatalf("job %d: %v", id, job)
	}
	t.Logf("job %d polled %d times, progress %v", id, len(seen), seen)
	page.refresh()

	// Retention save: two fields.
	code, set := page.call("PUT", raCompat+"/settings", `{"backup_retention_max": 7, "change_reason": "reduce retention"}`)
	if code != 200 || set["backup_retention_max"] != float64(7) {
		t.Fatalf("retention save: %d %v", code, set)
	}
	// Advanced save: nine keys, a null and a zero-padded cron, echoing what the GET said.
	adv := fmt.Sprintf(`{"enabled": false, "incremental_schedule": null, "full_backup_enabled": false, "full_backup_schedule": "00 02 * * 5",
		"ragflow_compose_path": %q, "ragflow_stop_services": %v, "auth_db_path": %q, "full_backup_include_images": %v, "change_reason": "switch schedule"}`,
		settings["ragflow_compose_path"], settings["ragflow_stop_services"], settings["auth_db_path"], settings["full_backup_include_images"])
	code, set = page.call("PUT", raCompat+"/settings", adv)
	if code != 200 || set["full_backup_schedule"] != "00 02 * * 5" || set["incremental_schedule"] != nil || set["full_backup_enabled"] != false {
		t.Fatalf("advanced save: %d %v", code, set)
	}
	// An older page's settings (RagFlowAuth's own fields): accepted.
	code, set = page.call("PUT", raCompat+"/settings", `{"interval_minutes": 1440, "target_ip": "", "target_share_name": "", "target_subdir": "",
		"replica_enabled": false, "replica_target_path": "", "replica_subdir_format": "flat", "change_reason": "older page"}`)
	if code != 200 || set["interval_minutes"] != float64(1440) {
		t.Fatalf("legacy settings: %d %v", code, set)
	}
	if code, r := page.call("PUT", raCompat+"/settings", `{"bogus": 1, "change_reason": "x"}`); code != 400 {
		t.Errorf("a field that is not RagFlowAuth's: %d %v", code, r)
	}

	// 全量备份 although scheduled full backups are off.
	full := page.start("/backup/run-full")
	fj, fseen := page.poll(full, 3*time.Minute)
	t.Logf("full job %d polled %d times, progress %v", full, len(fseen), fseen)
	if fj["status"] != "completed" || fj["kind"] != "full" {
		t.Fatalf("full job %d: %v", full, fj)
	}
	page.refresh()

	raDrillWithChineseTarget(t, page, job)

	// Real restore of the first job's database (the live one the application holds).
	code, rr := page.call("POST", raCompat+"/restore/run", fmt.Sprintf(`{"job_id": %d, "backup_path": %q, "backup_hash": %q, "change_reason": "recover deleted user", "confirmation_text": "RESTORE"}`,
		id, job["output_dir"], job["package_hash"]))
	if code != 200 || rr["live_auth_db_path"] != s.db || rr["result"] != "success" || rr["executed_by"] != "u-admin" {
		t.Fatalf("real restore: %d %v", code, rr)
	}
	page.refresh()

	raBusyStart(t, page, dmOpts{stateDir: state, target: target, stack: s, noSched: true})
	page.open()
}

// raDrillWithChineseTarget records a drill of job with the target 演练环境.
func raDrillWithChineseTarget(t *testing.T, page *raPage, job map[string]any) {
	t.Helper()
	code, dr := page.call("POST", raCompat+"/restore-drills", fmt.Sprintf(`{"job_id": %v, "backup_path": %q, "backup_hash": %q, "restore_target": "演练环境", "verification_notes": "季度演练"}`,
		job["id"], job["output_dir"], job["package_hash"]))
	if code != 200 || dr["acceptance_status"] != "passed" || dr["restore_target"] != "演练环境" || dr["executed_by"] != "u-admin" {
		t.Fatalf("drill: %d %v", code, dr)
	}
	raHas(t, "drill", dr, raDrillFields)
	_, drills := page.refresh()
	if len(drills) != 1 || drills[0].(map[string]any)["drill_id"] != dr["drill_id"] {
		t.Errorf("drills after the drill: %v", drills)
	}
	_, j := page.call("GET", fmt.Sprintf("%s/backup/jobs/%v", raCompat, job["id"]), "")
	if j["verified_by"] != "u-admin" || j["verified_at_ms"] == nil {
		t.Errorf("job after the drill: %v", j)
	}
}

// raBusyStart: another process sharing the state DB runs a backup (held in
// its precheck); 立即备份 answers 200 with that job's id and the page polls
// it; canceled, it ends with progress 100.
func raBusyStart(t *testing.T, page *raPage, o dmOpts) {
	t.Helper()
	hold := t.TempDir()
	o.env = []string{"DOCKPACK_TEST_HOLD_STEP=precheck", "DOCKPACK_TEST_HOLD_DIR=" + hold}
	other := dmStart(t, o)
	held := other.start("volumes")
	other.waitHeld(hold, progress.StepPrecheck, held.ID)
	for _, route := range []string{"/backup/run", "/backup/run-full"} {
		if id := page.start(route); id != held.ID {
			t.Errorf("%s while job %d runs: job_id %d", route, held.ID, id)
		}
	}
	if code, j := page.call("GET", fmt.Sprintf("%s/backup/jobs/%d", raCompat, held.ID), ""); code != 200 || j["status"] != "running" {
		t.Errorf("the running job: %d %v", code, j)
	}
	if code, r := page.call("POST", fmt.Sprintf("%s/backup/jobs/%d/cancel", raCompat, held.ID), `{"reason": "contract test"}`); code != 200 {
		t.Fatalf("cancel: %d %v", code, r)
	}
	j, _ := page.poll(held.ID, 30*time.Second)
	if j["status"] != "canceled" {
		t.Errorf("canceled job: %v", j)
	}
}
