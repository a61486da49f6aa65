package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
)

const compat = httpapi.DefaultCompatPrefix

func mustJSON(t testing.TB, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

// every authenticated route, with a method and a harmless body.
var allRoutes = []struct{ method, path, body string }{
	{"POST", "/v1/backups", `{}`},
	{"GET", "/v1/jobs", ""},
	{"GET", "/v1/jobs/1", ""},
	{"POST", "/v1/jobs/1/cancel", ""},
	{"GET", "/v1/jobs/1/events", ""},
	{"GET", "/v1/jobs/1/log", ""},
	{"GET", "/v1/packs", ""},
	{"GET", "/v1/settings", ""},
	{"PUT", "/v1/settings", `{"change_reason":"x"}`},
	{"POST", compat + "/backup/run", `{}`},
	{"POST", compat + "/backup/run-full", `{}`},
	{"GET", compat + "/backup/jobs?limit=30", ""},
	{"GET", compat + "/backup/jobs/1", ""},
	{"POST", compat + "/backup/jobs/1/cancel", `{}`},
	{"GET", compat + "/settings", ""},
	{"PUT", compat + "/settings", `{"change_reason":"x"}`},
	{"GET", compat + "/restore-drills?limit=30", ""},
	{"GET", "/no/such/route", ""},
}

func TestAuthEveryRouteButHealthz(t *testing.T) {
	f := newFake()
	srv := MustServer(t, f, httpapi.Options{})
	cases := []struct{ name, header string }{
		{"missing", ""},
		{"wrong scheme", "Basic " + testToken},
		{"empty bearer", "Bearer "},
		{"wrong token", "Bearer " + strings.Repeat("x", len(testToken))},
		{"token prefix", "Bearer " + testToken[:20]},
		{"token plus", "Bearer " + testToken + "x"},
	}
	for _, rt := range allRoutes {
		for _, c := range cases {
			code, hdr, body := MustDo(t, srv, rt.method, rt.path, rt.body, "Authorization", c.header)
			if code != http.StatusUnauthorized {
				t.Errorf("%s %s with %s auth: status %d, want 401 (%s)", rt.method, rt.path, c.name, code, body)
				continue
			}
			if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", rt.method, rt.path, hdr.Get("WWW-Authenticate"))
			}
			m := mustJSON(t, body)
			if strings.HasPrefix(rt.path, compat) {
				if m["detail"] != "unauthorized" || len(m) != 1 {
					t.Errorf("%s %s: compat body %s", rt.method, rt.path, body)
				}
			} else if m["error"] != "unauthorized" || m["detail"] == "" {
				t.Errorf("%s %s: native body %s", rt.method, rt.path, body)
			}
		}
	}
	if f.mutations() != 0 {
		t.Errorf("unauthenticated requests changed state: %d mutations", f.mutations())
	}
	code, _, body := MustDo(t, srv, "GET", "/healthz", "", "Authorization", "")
	if code != 200 || mustJSON(t, body)["status"] != "ok" {
		t.Errorf("healthz without token: %d %s", code, body)
	}
	// With the token every route answers something other than 401.
	for _, rt := range allRoutes {
		if code, _, body := MustDo(t, srv, rt.method, rt.path, rt.body); code == http.StatusUnauthorized {
			t.Errorf("%s %s with the token: 401 %s", rt.method, rt.path, body)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string // native "error"
		detail string // compat "detail" (prefix)
		jobID  float64
	}{
		{&jobs.BusyError{JobID: 7, Owner: "x"}, 409, "backup_job_already_running", "backup_job_already_running", 7},
		{fmt.Errorf("job 9: %w", jobs.ErrJobNotFound), 404, "job_not_found", "job_not_found", 0},
		{&jobs.PinnedError{Field: "target_local_dir"}, 409, "setting_pinned:target_local_dir", "setting_pinned:target_local_dir", 0},
		{fmt.Errorf("%w: local_backup_target_not_configured: no target", backup.ErrInvalidSpec), 400, "invalid_spec", "local_backup_target_not_configured: no target", 0},
		{fmt.Errorf("%w: full_backup_disabled: off", jobs.ErrInvalidSettings), 400, "invalid_settings", "full_backup_disabled: off", 0},
		{jobs.ErrJobNotActive, 409, "job_not_active", "job_not_active", 0},
		{fmt.Errorf("start: %w", jobs.ErrClosed), 503, "manager_closed", "manager_closed", 0},
		{errors.New("disk on fire"), 500, "internal_error", "internal_error: disk on fire", 0},
	}
	for _, c := range cases {
		f := newFake()
		f.jobs[1] = jobs.Job{ID: 1, Status: jobs.StatusRunning}
		f.nextID = 1
		f.err = c.err
		srv := MustServer(t, f, httpapi.Options{})
		for _, path := range []string{"/v1/jobs/1", compat + "/backup/jobs/1"} {
			code, _, body := MustDo(t, srv, "GET", path, "")
			m := mustJSON(t, body)
			if code != c.status {
				t.Errorf("%v on GET %s: status %d, want %d (%s)", c.err, path, code, c.status, body)
			}
			if strings.HasPrefix(path, compat) {
				if d, _ := m["detail"].(string); !strings.HasPrefix(d, c.detail) {
					t.Errorf("%v: compat detail %q, want prefix %q", c.err, d, c.detail)
				}
				if _, ok := m["error"]; ok {
					t.Errorf("%v: compat body has an error field: %s", c.err, body)
				}
			} else {
				if m["error"] != c.code || m["detail"] == "" {
					t.Errorf("%v: native body %s, want error %q and a detail", c.err, body, c.code)
				}
			}
			if c.jobID != 0 && m["job_id"] != c.jobID {
				t.Errorf("%v: job_id %v, want %v", c.err, m["job_id"], c.jobID)
			}
			if c.jobID == 0 {
				if _, ok := m["job_id"]; ok {
					t.Errorf("%v: unexpected job_id in %s", c.err, body)
				}
			}
		}
	}
}

func TestBadInputMatrix(t *testing.T) {
	f := newFake()
	f.jobs[1] = jobs.Job{ID: 1, Status: jobs.StatusRunning}
	f.nextID, f.holder = 1, 0
	srv := MustServer(t, f, httpapi.Options{MaxBodyBytes: 1024})
	before, _ := f.Settings(context.Background())
	huge := `{"reason":"` + strings.Repeat("a", 2048) + `"}`
	bodies := []struct {
		name, body string
		status     int
	}{
		{"malformed", `{"components": [`, 400},
		{"not json", `hello`, 400},
		{"array", `[]`, 400},
		{"null", `null`, 400},
		{"string", `"x"`, 400},
		{"unknown field", `{"bogus": 1}`, 400},
		{"trailing data", `{} {}`, 400},
		{"oversized", huge, 413},
	}
	bodyRoutes := []struct{ method, path string }{
		{"POST", "/v1/backups"},
		{"POST", "/v1/jobs/1/cancel"},
		{"PUT", "/v1/settings"},
		{"POST", compat + "/backup/run"},
		{"POST", compat + "/backup/run-full"},
		{"POST", compat + "/backup/jobs/1/cancel"},
		{"PUT", compat + "/settings"},
	}
	check := func(what string, code int, want int, body string, compatRoute bool) {
		t.Helper()
		if code != want {
			t.Errorf("%s: status %d, want %d (%s)", what, code, want, body)
			return
		}
		m := mustJSON(t, body)
		d, _ := m["detail"].(string)
		if d == "" {
			t.Errorf("%s: no detail in %s", what, body)
		}
		if !compatRoute && m["error"] == nil {
			t.Errorf("%s: no error code in %s", what, body)
		}
	}
	for _, rt := range bodyRoutes {
		for _, b := range bodies {
			code, _, body := MustDo(t, srv, rt.method, rt.path, b.body)
			check(rt.method+" "+rt.path+" "+b.name, code, b.status, body, strings.HasPrefix(rt.path, compat))
		}
	}
	badIDs := []string{"abc", "0", "-1", "+1", "1.5", "1e3", "99999999999999999999", "0x10", "%20", "1%00"}
	idRoutes := []struct{ method, path string }{
		{"GET", "/v1/jobs/%s"}, {"POST", "/v1/jobs/%s/cancel"}, {"GET", "/v1/jobs/%s/events"}, {"GET", "/v1/jobs/%s/log"},
		{"GET", compat + "/backup/jobs/%s"}, {"POST", compat + "/backup/jobs/%s/cancel"},
	}
	for _, rt := range idRoutes {
		for _, id := range badIDs {
			p := fmt.Sprintf(rt.path, id)
			code, _, body := MustDo(t, srv, rt.method, p, "")
			check(rt.method+" "+p, code, 400, body, strings.HasPrefix(p, compat))
		}
	}
	for _, q := range []string{"limit=x", "limit=", "limit=1.5", "limit=1&limit=2", "limit=%zz", "status=bogus"} {
		for _, p := range []string{"/v1/jobs?" + q, compat + "/backup/jobs?" + q} {
			if strings.HasPrefix(p, compat) && strings.HasPrefix(q, "status") {
				continue // the compat list has no status filter (ignored like any other parameter)
			}
			code, _, body := MustDo(t, srv, "GET", p, "")
			check("GET "+p, code, 400, body, strings.HasPrefix(p, compat))
		}
	}
	if code, _, body := MustDo(t, srv, "GET", compat+"/restore-drills?limit=abc", ""); code != 400 {
		t.Errorf("restore-drills bad limit: %d %s", code, body)
	}
	// Settings bodies that are valid JSON but not valid settings.
	for _, b := range []string{
		`{"change_reason": "x", "enabled": "yes"}`,
		`{"change_reason": "x", "enabled": null}`,
		`{"change_reason": "x", "backup_retention_max": 30.5}`,
		`{"change_reason": "x", "backup_retention_max": "30"}`,
		`{"change_reason": "x", "stop_services": "web"}`,
		`{"change_reason": "x", "incremental_schedule": 5}`,
		`{"change_reason": "x", "local_backup_pack_count": 3}`,
		`{"change_reason": 5}`,
		`{"backup_retention_max": 3}`,
		`{"backup_retention_max": 3, "change_reason": "   "}`,
	} {
		for _, p := range []string{"/v1/settings", compat + "/settings"} {
			code, _, body := MustDo(t, srv, "PUT", p, b)
			check("PUT "+p+" "+b, code, 400, body, strings.HasPrefix(p, compat))
		}
	}
	// RagFlowAuth's legacy fields are refused by the native route only (the
	// compat route accepts and ignores them: TestCompatLegacySettings).
	code, _, body := MustDo(t, srv, "PUT", "/v1/settings", `{"change_reason": "x", "interval_minutes": 3}`)
	check("PUT /v1/settings interval_minutes", code, 400, body, false)
	// Components that are not components.
	for _, b := range []string{`{"components": []}`, `{"components": ["disk"]}`, `{"components": "db"}`, `{"components": [1]}`} {
		code, _, body := MustDo(t, srv, "POST", "/v1/backups", b)
		check("POST /v1/backups "+b, code, 400, body, false)
	}
	if n := f.mutations(); n != 0 {
		t.Errorf("bad input changed state: %d mutating calls reached the backend", n)
	}
	after, _ := f.Settings(context.Background())
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("settings changed by bad input: %+v → %+v", before, after)
	}
	if len(f.jobs) != 1 {
		t.Errorf("bad input created jobs: %d", len(f.jobs))
	}
}

func TestListLimitClamped(t *testing.T) {
	f := newFake()
	srv := MustServer(t, f, httpapi.Options{})
	for q, want := range map[string]int{"": 30, "?limit=0": 1, "?limit=-5": 1, "?limit=500": 200, "?limit=17": 17, "?limit=%2017": 17} {
		for _, p := range []string{"/v1/jobs", compat + "/backup/jobs"} {
			code, _, body := MustDo(t, srv, "GET", p+q, "")
			if code != 200 || f.lastList.Limit != want {
				t.Errorf("GET %s%s: %d limit %d, want 200 and %d (%s)", p, q, code, f.lastList.Limit, want, body)
			}
			if m := mustJSON(t, body); m["jobs"] == nil {
				t.Errorf("GET %s%s: jobs is null, want []: %s", p, q, body)
			}
		}
	}
	if code, _, _ := MustDo(t, srv, "GET", "/v1/jobs?status=failed", ""); code != 200 || f.lastList.Status != jobs.StatusFailed {
		t.Errorf("status filter: %d %q", code, f.lastList.Status)
	}
}

func TestStartNativeAndCompat(t *testing.T) {
	f := newFake()
	srv := MustServer(t, f, httpapi.Options{})
	code, hdr, body := MustDo(t, srv, "POST", "/v1/backups", `{"components": ["db", "volumes", "database", "images"]}`)
	if code != http.StatusAccepted {
		t.Fatalf("start: %d %s", code, body)
	}
	var j jobs.Job
	if err := json.Unmarshal([]byte(body), &j); err != nil || j.ID != 1 || j.Status != jobs.StatusRunning {
		t.Fatalf("start answer %s (%v)", body, err)
	}
	if hdr.Get("Location") != "jobs/1" {
		t.Errorf("Location %q", hdr.Get("Location"))
	}
	if got := fmt.Sprint(f.lastReq.Components); got != "[db volumes images]" || f.lastReq.Trigger != "api" || f.lastReq.Full {
		t.Errorf("request %+v", f.lastReq)
	}
	// Busy, native: 409 with the holder's id.
	code, _, body = MustDo(t, srv, "POST", "/v1/backups", "")
	m := mustJSON(t, body)
	if code != 409 || m["error"] != "backup_job_already_running" || m["job_id"] != float64(1) {
		t.Errorf("busy native: %d %s", code, body)
	}
	// Busy, compat: RagFlowAuth's newest answer, 200 with the running job's
	// id (the page polls it), and no new job.
	code, _, body = MustDo(t, srv, "POST", compat+"/backup/run", "{}")
	if code != 200 || strings.TrimSpace(body) != `{"job_id":1}` || len(f.jobs) != 1 {
		t.Errorf("busy compat: %d %s", code, body)
	}
	// Cancel frees it; run-full starts a full job.
	code, _, body = MustDo(t, srv, "POST", compat+"/backup/jobs/1/cancel", `{"reason": "operator"}`)
	if code != 200 || mustJSON(t, body)["status"] != "canceled" || f.lastWhy != "operator" {
		t.Errorf("cancel: %d %s (reason %q)", code, body, f.lastWhy)
	}
	code, _, body = MustDo(t, srv, "POST", compat+"/backup/run-full", "")
	if code != 200 || strings.TrimSpace(body) != `{"job_id":2}` || !f.lastReq.Full || f.lastReq.Trigger != "manual" || f.lastReq.Components != nil {
		t.Errorf("run-full: %d %s %+v", code, body, f.lastReq)
	}
	// Cancel without a body gets the default reason.
	if code, _, body = MustDo(t, srv, "POST", "/v1/jobs/2/cancel", ""); code != 200 || f.lastWhy != httpapi.DefaultCancelReason {
		t.Errorf("cancel without body: %d %s (reason %q)", code, body, f.lastWhy)
	}
	// Jobs list newest first as the backend gives it; a job by id; unknown → 404.
	code, _, body = MustDo(t, srv, "GET", compat+"/backup/jobs?limit=30", "")
	var list struct{ Jobs []jobs.Job }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Jobs) != 2 || list.Jobs[0].ID != 2 {
		t.Errorf("list: %d %s", code, body)
	}
	code, _, body = MustDo(t, srv, "GET", compat+"/backup/jobs/99", "")
	if code != 404 || strings.TrimSpace(body) != `{"detail":"job_not_found"}` {
		t.Errorf("unknown job compat: %d %s", code, body)
	}
	code, _, body = MustDo(t, srv, "GET", "/v1/jobs/99", "")
	if m := mustJSON(t, body); code != 404 || m["error"] != "job_not_found" {
		t.Errorf("unknown job native: %d %s", code, body)
	}
	// The job JSON carries every RagFlowAuth field, nulls included.
	_, _, body = MustDo(t, srv, "GET", compat+"/backup/jobs/1", "")
	m = mustJSON(t, body)
	for _, k := range []string{"id", "kind", "status", "progress", "message", "detail", "output_dir", "package_hash", "created_at_ms",
		"started_at_ms", "finished_at_ms", "cancel_requested_at_ms", "cancel_reason", "canceled_at_ms", "verification_status"} {
		if _, ok := m[k]; !ok {
			t.Errorf("job JSON lacks %s: %s", k, body)
		}
	}
	// Log and packs.
	if code, _, body = MustDo(t, srv, "GET", "/v1/jobs/1/log", ""); code != 200 || !strings.Contains(body, `"hello"`) {
		t.Errorf("log: %d %s", code, body)
	}
	if code, _, body = MustDo(t, srv, "GET", "/v1/packs", ""); code != 200 || strings.TrimSpace(body) != `{"packs":[]}` {
		t.Errorf("packs: %d %s", code, body)
	}
}

func TestConcurrentStartsOneWinner(t *testing.T) {
	f := newFake()
	srv := MustServer(t, f, httpapi.Options{})
	const n = 200
	var wg sync.WaitGroup
	codes := make([]int, n)
	bodies := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, bodies[i] = MustDo(t, srv, "POST", compat+"/backup/run", "{}")
		}()
	}
	wg.Wait()
	// Every answer is 200 with the one job's id (RagFlowAuth answers a busy
	// start with the running job); exactly one start reached the backend.
	for i := range n {
		if codes[i] != 200 || strings.TrimSpace(bodies[i]) != `{"job_id":1}` {
			t.Errorf("answer %d %s, want 200 {\"job_id\":1}", codes[i], bodies[i])
		}
	}
	if won := f.mutations(); won != 1 || len(f.jobs) != 1 {
		t.Errorf("%d starts accepted (%d jobs), want exactly 1", won, len(f.jobs))
	}
}

func TestSettingsRoutes(t *testing.T) {
	f := newFake()
	f.pinned = []string{"target_local_dir"}
	srv := MustServer(t, f, httpapi.Options{})
	code, _, body := MustDo(t, srv, "GET", compat+"/settings", "")
	m := mustJSON(t, body)
	if code != 200 || m["windows_backup_target_path"] != "" || m["windows_backup_pack_count"] != float64(0) || m["backup_retention_max"] != float64(30) {
		t.Errorf("compat settings: %d %s", code, body)
	}
	code, _, body = MustDo(t, srv, "GET", "/v1/settings", "")
	if m := mustJSON(t, body); code != 200 || m["windows_backup_target_path"] != nil || m["stop_services"] == nil {
		t.Errorf("native settings: %d %s", code, body)
	}
	// RagFlowAuth's retention save: only the two fields.
	code, _, body = MustDo(t, srv, "PUT", compat+"/settings", `{"backup_retention_max": 5, "change_reason": "keep fewer"}`)
	if code != 200 || mustJSON(t, body)["backup_retention_max"] != float64(5) || f.lastPtch.ChangeReason != "keep fewer" ||
		len(f.lastPtch.Values) != 1 || string(f.lastPtch.Values["backup_retention_max"]) != "5" {
		t.Errorf("retention PUT: %d %s %+v", code, body, f.lastPtch)
	}
	// A schedule, then null clears it; "" clears too.
	code, _, body = MustDo(t, srv, "PUT", "/v1/settings", `{"incremental_schedule": " 0 3 * * * ", "change_reason": "nightly"}`)
	if code != 200 || string(f.lastPtch.Values["incremental_schedule"]) != `"0 3 * * *"` {
		t.Errorf("schedule PUT: %d %s", code, body)
	}
	for _, v := range []string{"null", `""`} {
		code, _, body = MustDo(t, srv, "PUT", "/v1/settings", `{"incremental_schedule": `+v+`, "change_reason": "off"}`)
		if code != 200 || string(f.lastPtch.Values["incremental_schedule"]) != "null" {
			t.Errorf("schedule %s PUT: %d %s", v, code, body)
		}
	}
	// Pinned: 409 with the field, never silently ignored.
	code, _, body = MustDo(t, srv, "PUT", compat+"/settings", `{"target_local_dir": "/mnt/x", "change_reason": "move"}`)
	if code != 409 || strings.TrimSpace(body) != `{"detail":"setting_pinned:target_local_dir"}` {
		t.Errorf("pinned compat: %d %s", code, body)
	}
	code, _, body = MustDo(t, srv, "PUT", "/v1/settings", `{"target_local_dir": "/mnt/x", "change_reason": "move"}`)
	if m := mustJSON(t, body); code != 409 || m["error"] != "setting_pinned:target_local_dir" {
		t.Errorf("pinned native: %d %s", code, body)
	}
	// Missing change_reason: RagFlowAuth's code.
	code, _, body = MustDo(t, srv, "PUT", compat+"/settings", `{"backup_retention_max": 5}`)
	if code != 400 || strings.TrimSpace(body) != `{"detail":"change_reason_required"}` {
		t.Errorf("no change_reason: %d %s", code, body)
	}
	// Out of range: the backend's validation error, 400.
	code, _, body = MustDo(t, srv, "PUT", compat+"/settings", `{"backup_retention_max": 0, "change_reason": "x"}`)
	if code != 400 || !strings.HasPrefix(mustJSON(t, body)["detail"].(string), "backup_retention_max") {
		t.Errorf("retention 0: %d %s", code, body)
	}
	// Read-only and unknown fields name themselves.
	code, _, body = MustDo(t, srv, "PUT", "/v1/settings", `{"updated_at_ms": 5, "change_reason": "x"}`)
	if m := mustJSON(t, body); code != 400 || m["error"] != "read_only_field:updated_at_ms" {
		t.Errorf("read-only field: %d %s", code, body)
	}
	code, _, body = MustDo(t, srv, "PUT", "/v1/settings", `{"replica_enabled": true, "change_reason": "x"}`)
	if m := mustJSON(t, body); code != 400 || m["error"] != "unknown_field" || !strings.Contains(m["detail"].(string), "replica_enabled") {
		t.Errorf("unknown field: %d %s", code, body)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	srv := MustServer(t, newFake(), httpapi.Options{})
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v2/jobs", 404, ""},
		{"GET", "/v1/jobs/1/nope", 404, ""},
		{"DELETE", "/v1/jobs/1", 405, "GET, HEAD"},
		{"GET", "/v1/backups", 405, "POST"},
		{"POST", "/v1/settings", 405, "GET, HEAD, PUT"},
		{"DELETE", compat + "/settings", 405, "GET, HEAD, PUT"},
		{"GET", compat + "/backup/run", 405, "POST"},
		{"GET", compat + "/nope", 404, ""},
		{"POST", "/healthz", 405, "GET, HEAD"},
	}
	for _, c := range cases {
		code, hdr, body := MustDo(t, srv, c.method, c.path, "")
		if code != c.status || hdr.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q (%s)", c.method, c.path, code, hdr.Get("Allow"), c.status, c.allow, body)
		}
		m := mustJSON(t, body)
		if m["detail"] == nil || (strings.HasPrefix(c.path, compat) != (m["error"] == nil)) {
			t.Errorf("%s %s: body %s", c.method, c.path, body)
		}
	}
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// MustReadSSE reads events until the stream ends and returns them with
// the comment lines seen.
func MustReadSSE(t testing.TB, resp *http.Response) (events []sseEvent, comments []string) {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.data != "" {
				events = append(events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
			comments = append(comments, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "event: "):
			cur.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			cur.data += line[len("data: "):]
		}
	}
	return events, comments
}

func TestEventsStream(t *testing.T) {
	f := newFake()
	f.jobs[1] = jobs.Job{ID: 1, Status: jobs.StatusCompleted, Progress: 100}
	f.nextID = 1
	ended := make(chan struct{})
	f.subscribe = func(ctx context.Context, id int64) (<-chan jobs.Event, error) {
		if id != 1 {
			return nil, jobs.ErrJobNotFound
		}
		ch := make(chan jobs.Event)
		go func() {
			defer close(ch)
			j := f.jobs[1]
			for _, ev := range []jobs.Event{
				{Type: "progress", JobID: 1, Progress: &progress.Report{Step: progress.StepVolumes, Percent: 10}},
				{Type: "log", JobID: 1, Log: &jobs.LogLine{Level: "info", Message: "volume a"}},
				{Type: "progress", JobID: 1, Progress: &progress.Report{Step: progress.StepImages, Percent: 60}},
				{Type: "final", JobID: 1, Job: &j},
				{Type: "progress", JobID: 1}, // after final: never sent
			} {
				if ev.Type == "final" {
					time.Sleep(60 * time.Millisecond) // lets keep-alives through
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					close(ended)
					return
				}
			}
		}()
		return ch, nil
	}
	srv := MustServer(t, f, httpapi.Options{SSEKeepAlive: 10 * time.Millisecond})
	req, _ := http.NewRequest("GET", srv.URL+"/v1/jobs/1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, comments := MustReadSSE(t, resp)
	var names []string
	for _, e := range events {
		names = append(names, e.name)
		var ev jobs.Event
		if err := json.Unmarshal([]byte(e.data), &ev); err != nil || ev.Type != e.name || ev.JobID != 1 {
			t.Errorf("event %s data %s (%v)", e.name, e.data, err)
		}
	}
	if strings.Join(names, ",") != "progress,log,progress,final" {
		t.Errorf("events %v, want progress,log,progress,final then the end", names)
	}
	keepAlive := 0
	for _, c := range comments {
		if c == "keep-alive" {
			keepAlive++
		}
	}
	if keepAlive == 0 {
		t.Errorf("no keep-alive comment in %q", comments)
	}
	select {
	case <-ended: // the handler stopped reading and canceled the subscription
	case <-time.After(5 * time.Second):
		t.Error("the subscription context was not canceled after the final event")
	}
	// Unknown job: a JSON 404, not a stream.
	code, hdr, body := MustDo(t, srv, "GET", "/v1/jobs/5/events", "")
	if code != 404 || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("events of unknown job: %d %s %s", code, hdr.Get("Content-Type"), body)
	}
}

func TestEventsClientGoesAway(t *testing.T) {
	f := newFake()
	done := make(chan struct{})
	f.subscribe = func(ctx context.Context, id int64) (<-chan jobs.Event, error) {
		ch := make(chan jobs.Event)
		go func() {
			<-ctx.Done()
			close(done)
			close(ch)
		}()
		return ch, nil
	}
	srv := MustServer(t, f, httpapi.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/jobs/3/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if !strings.HasPrefix(line, ": job 3") {
		t.Errorf("first line %q", line)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription was not ended when the client went away")
	}
}

func TestExtraRoutesAndAuthOverride(t *testing.T) {
	f := newFake()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "metrics\n") })
	drills := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"items":[1],"count":1}`) })
	srv := MustServer(t, f, httpapi.Options{Extra: map[string]http.Handler{
		"GET /metrics": metrics, "GET " + compat + "/restore-drills": drills,
	}})
	if code, _, _ := MustDo(t, srv, "GET", "/metrics", "", "Authorization", ""); code != 401 {
		t.Errorf("extra route without token: %d", code)
	}
	if code, _, body := MustDo(t, srv, "GET", "/metrics", ""); code != 200 || body != "metrics\n" {
		t.Errorf("extra route: %d %q", code, body)
	}
	if _, _, body := MustDo(t, srv, "GET", compat+"/restore-drills", ""); body != `{"items":[1],"count":1}` {
		t.Errorf("drills override: %q", body)
	}
	// Without the override: an empty list, and POST is 501.
	srv2 := MustServer(t, f, httpapi.Options{})
	if code, _, body := MustDo(t, srv2, "GET", compat+"/restore-drills?limit=30", ""); code != 200 || strings.TrimSpace(body) != `{"count":0,"items":[]}` {
		t.Errorf("default drills: %d %s", code, body)
	}
	if code, _, _ := MustDo(t, srv2, "POST", compat+"/restore-drills", "{}"); code != 501 {
		t.Errorf("drill POST: %d", code)
	}
	// The embedding app's auth replaces the token check.
	appAuth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Admin") != "yes" {
				http.Error(w, "app says no", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv3 := MustServer(t, f, httpapi.Options{Auth: appAuth})
	if code, _, _ := MustDo(t, srv3, "GET", "/v1/jobs", ""); code != 403 {
		t.Errorf("app auth, no header: %d", code)
	}
	if code, _, _ := MustDo(t, srv3, "GET", "/v1/jobs", "", "Authorization", "", "X-Admin", "yes"); code != 200 {
		t.Errorf("app auth, header: %d", code)
	}
	if code, _, _ := MustDo(t, srv3, "GET", "/healthz", "", "Authorization", ""); code != 200 {
		t.Errorf("healthz with app auth: %d", code)
	}
}

func TestOptionsValidate(t *testing.T) {
	noop := func(h http.Handler) http.Handler { return h }
	cases := []struct {
		name string
		o    httpapi.Options
		ok   bool
	}{
		{"token", httpapi.Options{Token: testToken}, true},
		{"auth only", httpapi.Options{Auth: noop}, true},
		{"nothing", httpapi.Options{}, false},
		{"short token", httpapi.Options{Token: "short"}, false},
		{"token with space", httpapi.Options{Token: "0123456789 abcdef0123"}, false},
		{"prefix", httpapi.Options{Token: testToken, CompatPrefix: "/admin/ds"}, true},
		{"no compat", httpapi.Options{Token: testToken, CompatPrefix: "-"}, true},
		{"prefix slash", httpapi.Options{Token: testToken, CompatPrefix: "/admin/"}, false},
		{"prefix pattern", httpapi.Options{Token: testToken, CompatPrefix: "/{x}"}, false},
		{"negative body", httpapi.Options{Token: testToken, MaxBodyBytes: -1}, false},
		{"nil extra", httpapi.Options{Token: testToken, Extra: map[string]http.Handler{"/x": nil}}, false},
		{"conflicting extra", httpapi.Options{Token: testToken, Extra: map[string]http.Handler{"GET /v1/jobs": http.NotFoundHandler()}}, false},
	}
	for _, c := range cases {
		_, err := httpapi.New(newFake(), c.o)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, httpapi.ErrInvalidOptions) {
			t.Errorf("%s: %v does not wrap ErrInvalidOptions", c.name, err)
		}
	}
	if _, err := httpapi.New(nil, httpapi.Options{Token: testToken}); err == nil {
		t.Error("nil backend accepted")
	}
}

func TestCustomPrefixAndNoCompat(t *testing.T) {
	f := newFake()
	srv := MustServer(t, f, httpapi.Options{CompatPrefix: "/ds"})
	if code, _, body := MustDo(t, srv, "POST", "/ds/backup/run", "{}"); code != 200 || strings.TrimSpace(body) != `{"job_id":1}` {
		t.Errorf("custom prefix run: %d %s", code, body)
	}
	if code, _, _ := MustDo(t, srv, "POST", compat+"/backup/run", "{}"); code != 404 {
		t.Errorf("default prefix still served: %d", code)
	}
	srv2 := MustServer(t, f, httpapi.Options{CompatPrefix: "-"})
	if code, _, body := MustDo(t, srv2, "GET", compat+"/settings", ""); code != 404 || mustJSON(t, body)["error"] != "not_found" {
		t.Errorf("compat disabled: %d %s", code, body)
	}
}

func TestPanicBecomes500(t *testing.T) {
	f := newFake()
	f.panicOnGet = true
	srv := MustServer(t, f, httpapi.Options{})
	code, _, body := MustDo(t, srv, "GET", "/v1/jobs/1", "")
	if code != 500 || mustJSON(t, body)["error"] != "internal_error" {
		t.Errorf("panic: %d %s", code, body)
	}
}
