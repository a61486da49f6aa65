//go:build integration

package integration_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Bad input on every route of a real daemon — malformed JSON, unknown
// fields, an oversized body, a non-integer id or limit, a missing or wrong
// token — is answered 4xx with a detail, and changes nothing.
func TestDaemonBadInputMatrix(t *testing.T) {
	s := dmNewStack(t, 4<<10)
	target := MustTmpfs(t, 16<<20)
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s, noSched: true, args: []string{"--max-body-bytes", "4KiB"}})
	const cp = "/api/admin/data-security"
	snapshot := func() string {
		var out []string
		for _, p := range []string{"/v1/settings", "/v1/jobs?limit=200", "/v1/lock", "/v1/schedule", "/v1/packs", cp + "/settings"} {
			code, b := d.do("GET", p, "")
			out = append(out, fmt.Sprintf("%s %d %s", p, code, b))
		}
		return strings.Join(out, "\n")
	}
	before := snapshot()

	type route struct {
		method, path string
		body         bool // takes a JSON body
		id           bool // path has {id}
		list         bool // takes ?limit=
	}
	routes := []route{
		{"POST", "/v1/backups", true, false, false},
		{"GET", "/v1/jobs", false, false, true},
		{"GET", "/v1/jobs/{id}", false, true, false},
		{"POST", "/v1/jobs/{id}/cancel", true, true, false},
		{"GET", "/v1/jobs/{id}/events", false, true, false},
		{"GET", "/v1/jobs/{id}/log", false, true, false},
		{"GET", "/v1/packs", false, false, false},
		{"GET", "/v1/settings", false, false, false},
		{"PUT", "/v1/settings", true, false, false},
		{"GET", "/v1/lock", false, false, false},
		{"GET", "/v1/schedule", false, false, false},
		{"POST", cp + "/backup/run", true, false, false},
		{"POST", cp + "/backup/run-full", true, false, false},
		{"GET", cp + "/backup/jobs", false, false, true},
		{"GET", cp + "/backup/jobs/{id}", false, true, false},
		{"POST", cp + "/backup/jobs/{id}/cancel", true, true, false},
		{"GET", cp + "/settings", false, false, false},
		{"PUT", cp + "/settings", true, false, false},
		{"GET", cp + "/restore-drills", false, false, true},
	}
	oversized := `{"change_reason": "` + strings.Repeat("x", 5000) + `"}`
	bodies := map[string]struct {
		body string
		want int
	}{
		"malformed":     {`{"components": [`, 400},
		"not an object": {`["db"]`, 400},
		"unknown field": {`{"change_reason": "x", "bogus": true}`, 400},
		"oversized":     {oversized, 413},
		"trailing":      {`{} x`, 400},
	}
	badIDs := []string{"abc", "0", "-3", "1.5", "99999999999999999999", "1e2"}
	checked := 0
	check := func(what string, code, want int, body []byte) {
		t.Helper()
		checked++
		if code != want {
			t.Errorf("%s: status %d, want %d (%s)", what, code, want, body)
			return
		}
		m := dmJSON(t, body)
		if d, _ := m["detail"].(string); d == "" {
			t.Errorf("%s: answer without a detail: %s", what, body)
		}
	}
	for _, r := range routes {
		path := strings.Replace(r.path, "{id}", "1", 1)
		name := r.method + " " + r.path
		okBody := ""
		if r.body {
			okBody = "{}"
		}
		code, b := d.do(r.method, path, okBody, "")
		check(name+" without token", code, 401, b)
		code, b = d.do(r.method, path, okBody, "wrong-token-wrong-token-wrong")
		check(name+" with a wrong token", code, 401, b)
		if r.body {
			for bn, bc := range bodies {
				code, b := d.do(r.method, path, bc.body)
				check(name+" "+bn, code, bc.want, b)
			}
		}
		if r.id {
			for _, id := range badIDs {
				code, b := d.do(r.method, strings.Replace(r.path, "{id}", id, 1), okBody)
				check(name+" id "+id, code, 400, b)
			}
		}
		if r.list {
			code, b := d.do(r.method, path+"?limit=abc", "")
			check(name+" limit=abc", code, 400, b)
		}
	}
	// Valid but refused requests change nothing either.
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/jobs/12345", "", 404},
		{"POST", cp + "/backup/jobs/12345/cancel", `{"reason": "x"}`, 404},
		{"POST", "/v1/backups", `{"components": ["disks"]}`, 400},
		{"POST", "/v1/backups", `{"components": []}`, 400},
		{"PUT", cp + "/settings", `{"backup_retention_max": 5}`, 400},
		{"PUT", cp + "/settings", `{"backup_retention_max": 500, "change_reason": "x"}`, 400},
		{"PUT", "/v1/settings", `{"incremental_schedule": "every day", "change_reason": "x"}`, 400},
		{"PUT", "/v1/settings", `{"target_local_dir": "/elsewhere", "change_reason": "x"}`, 409},
		{"PUT", "/v1/settings", `{"local_backup_pack_count": 3, "change_reason": "x"}`, 400},
		{"DELETE", "/v1/jobs/1", "", 405},
		{"GET", "/v1/nothing", "", 404},
	} {
		code, b := d.do(c.method, c.path, c.body)
		check(c.method+" "+c.path+" "+c.body, code, c.want, b)
	}
	after := snapshot()
	if before != after {
		t.Errorf("state changed by refused requests:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if packs, partials := TargetDirs(t, target); len(packs)+len(partials) > 0 {
		t.Errorf("target written: %v %v", packs, partials)
	}
	if !bytes.Contains([]byte(after), []byte(`"jobs":[]`)) {
		t.Errorf("a job was created: %s", after)
	}
	t.Logf("%d refused requests on %d routes, all 4xx with a detail, no state change", checked, len(routes))
}
