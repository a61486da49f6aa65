//go:build integration

package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
)

const rsToken = "rs-drill-token-0123456789abcdef0123"

// rsAPI calls the handler with the token and decodes the JSON answer.
func rsAPI(t testing.TB, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+rsToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d, not a JSON object: %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// TestRestoreDrillRoutes runs RagFlowAuth's data-security page against the
// real Manager and engine: the page's load sequence answers 200, a drill of
// a good pack passes and marks the job verified, a wrong hash is 400, a
// drill of a tampered pack fails naming the file.
func TestRestoreDrillRoutes(t *testing.T) {
	s := rsSmallStack(t)
	target := MustTmpfs(t, 128<<20)
	set := settings.Default()
	set.TargetLocalDir, set.RagflowProjectName, set.AuthDBPath = target, s.project, s.db
	state := t.TempDir()
	m, err := jobs.NewManager(context.Background(), jobs.Config{
		StateDir: state, Engine: MustEngine(t), Settings: set, Policy: tmpfsPolicy, StagingDir: t.TempDir(),
		DisableScheduler: true, LeaseDuration: 3 * time.Second, PersistInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m.Close(ctx)
	})
	h, err := httpapi.New(m, httpapi.Options{Token: rsToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cp := httpapi.DefaultCompatPrefix

	// The page opens: settings, jobs, drills — all 200 (an error in any fails the page).
	for _, p := range []string{"/settings", "/backup/jobs?limit=30", "/restore-drills?limit=30"} {
		if code, body := rsAPI(t, srv, "GET", cp+p, ""); code != 200 {
			t.Fatalf("page load GET %s: %d %v", p, code, body)
		}
	}
	code, body := rsAPI(t, srv, "POST", cp+"/backup/run", "{}")
	if code != 200 {
		t.Fatalf("run: %d %v", code, body)
	}
	id := int64(body["job_id"].(float64))
	var job map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, job = rsAPI(t, srv, "GET", fmt.Sprintf("%s/backup/jobs/%d", cp, id), "")
		if st := job["status"]; st != "queued" && st != "running" && st != "canceling" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %v", id, job["status"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if job["status"] != "completed" || job["verification_status"] != "not_verified" {
		t.Fatalf("job %v", job)
	}
	outDir, hash := job["output_dir"].(string), job["package_hash"].(string)
	drill := func(hash string) (int, map[string]any) {
		return rsAPI(t, srv, "POST", cp+"/restore-drills",
			fmt.Sprintf(`{"job_id": %d, "backup_path": %q, "backup_hash": %q, "restore_target": "staging", "verification_notes": "integration"}`, id, outDir, hash))
	}

	// A good pack.
	t0 := time.Now()
	code, d := drill(hash)
	if code != 200 || d["acceptance_status"] != "passed" || d["result"] != "success" || d["hash_match"] != true || d["compare_match"] != true ||
		!strings.HasPrefix(d["drill_id"].(string), "restore_drill_") || d["executed_by"] != "api" {
		t.Fatalf("drill of a good pack: %d %v", code, d)
	}
	t.Logf("drill of a good pack (%v bytes verified) took %s", d["verification_report"].(map[string]any)["bytes_verified"], time.Since(t0).Round(time.Millisecond))
	restored := d["restored_auth_db_path"].(string)
	if !strings.HasPrefix(restored, filepath.Join(state, "restore-drills", "staging")+"/") || restored == s.db {
		t.Fatalf("restored into %s", restored)
	}
	_, job = rsAPI(t, srv, "GET", fmt.Sprintf("%s/backup/jobs/%d", cp, id), "")
	if job["verification_status"] != "passed" || job["verified_at_ms"] == nil || job["last_restore_drill_id"] != d["drill_id"] {
		t.Fatalf("job after the drill: %v", job)
	}

	// A wrong hash: 400, nothing recorded.
	if code, b := drill(strings.Repeat("0", 64)); code != 400 || !strings.HasPrefix(b["detail"].(string), "backup_hash_mismatch") {
		t.Fatalf("wrong hash: %d %v", code, b)
	}

	// A tampered pack: the drill fails, naming the file.
	var volFile string
	for _, c := range d["verification_report"].(map[string]any)["checks"].([]any) {
		if p, _ := c.(map[string]any)["path"].(string); strings.HasPrefix(p, "volumes/") {
			volFile = p
		}
	}
	if volFile == "" {
		t.Fatalf("no volume check in %v", d["verification_report"])
	}
	rsFlipMid(t, filepath.Join(outDir, filepath.FromSlash(volFile)))
	code, d2 := drill(hash)
	failed, _ := d2["verification_report"].(map[string]any)["failed"].([]any)
	if code != 200 || d2["acceptance_status"] != "failed" || d2["result"] != "failed" || len(failed) != 1 || !strings.HasPrefix(failed[0].(string), volFile+": expected sha256 ") {
		t.Fatalf("drill of a tampered pack: %d %v", code, d2)
	}
	_, job = rsAPI(t, srv, "GET", fmt.Sprintf("%s/backup/jobs/%d", cp, id), "")
	if job["verification_status"] != "failed" || !strings.Contains(fmt.Sprint(job["verification_detail"]), volFile) {
		t.Fatalf("job after the failed drill: %v", job)
	}

	code, list := rsAPI(t, srv, "GET", cp+"/restore-drills?limit=30", "")
	items, _ := list["items"].([]any)
	if code != 200 || list["count"] != float64(2) || len(items) != 2 || items[0].(map[string]any)["drill_id"] != d2["drill_id"] {
		t.Fatalf("drill list: %d %v", code, list)
	}
	// The page loads again after the drills.
	for _, p := range []string{"/settings", "/backup/jobs?limit=30", "/restore-drills?limit=30"} {
		if code, body := rsAPI(t, srv, "GET", cp+p, ""); code != 200 {
			t.Fatalf("page reload GET %s: %d %v", p, code, body)
		}
	}
}
