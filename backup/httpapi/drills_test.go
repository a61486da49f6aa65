package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/drill"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
)

// drillFake is fakeBackend plus restore drills: a drill of job 1 with the
// right path and hash passes; anything else is refused as the Manager does.
type drillFake struct {
	*fakeBackend
	dmu     sync.Mutex
	drills  []drill.Drill
	lastReq drill.Request
	busy    bool
}

const (
	dfPath = "/mnt/backup/migration_pack_20260101_000000_000"
	dfHash = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func (f *drillFake) RunDrill(ctx context.Context, req drill.Request) (drill.Drill, error) {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	f.lastReq = req
	if err := req.Validate(); err != nil {
		return drill.Drill{}, err
	}
	switch {
	case f.busy:
		return drill.Drill{}, &jobs.BusyError{JobID: 7, Owner: "fake"}
	case req.JobID != 1:
		return drill.Drill{}, fmt.Errorf("%w: no backup job with id %d", jobs.ErrJobNotFound, req.JobID)
	case req.BackupPath != dfPath:
		return drill.Drill{}, fmt.Errorf("%w: backup_path_mismatch: not job 1's output_dir", backup.ErrInvalidSpec)
	case req.BackupHash != dfHash:
		return drill.Drill{}, fmt.Errorf("%w: backup_hash_mismatch: not job 1's package_hash", backup.ErrInvalidSpec)
	}
	d := drill.Drill{DrillID: fmt.Sprintf("restore_drill_%d", len(f.drills)+1), JobID: 1, BackupPath: dfPath, BackupHash: dfHash, ActualBackupHash: dfHash,
		HashMatch: true, CompareMatch: true, RestoreTarget: req.RestoreTarget, AcceptanceStatus: drill.Passed, PackageValidationStatus: drill.Passed,
		Result: "success", ExecutedBy: req.ExecutedBy, VerificationNotes: req.VerificationNotes,
		VerificationReport: drill.Report{Checks: []check.Check{{Name: "manifest", Status: check.OK}}}}
	f.drills = append([]drill.Drill{d}, f.drills...)
	return d, nil
}

func (f *drillFake) ListDrills(ctx context.Context, limit int) ([]drill.Drill, error) {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	return f.drills[:min(limit, len(f.drills))], nil
}

func TestDrillRoutes(t *testing.T) {
	f := &drillFake{fakeBackend: newFake()}
	srv := MustServer(t, f, httpapi.Options{})
	// The admin page's load: settings, jobs, drills.
	for _, p := range []string{"/settings", "/backup/jobs?limit=30", "/restore-drills?limit=30"} {
		if code, _, body := MustDo(t, srv, "GET", compat+p, ""); code != 200 {
			t.Fatalf("GET %s: %d %s", p, code, body)
		}
	}
	good := fmt.Sprintf(`{"job_id": 1, "backup_path": %q, "backup_hash": %q, "restore_target": "staging", "verification_notes": "q3"}`, dfPath, dfHash)
	code, _, body := MustDo(t, srv, "POST", compat+"/restore-drills", good)
	m := mustJSON(t, body)
	if code != 200 || m["acceptance_status"] != "passed" || m["drill_id"] != "restore_drill_1" || m["executed_by"] != "" || m["verification_notes"] != "q3" {
		t.Fatalf("POST drill: %d %s", code, body)
	}
	code, _, body = MustDo(t, srv, "GET", compat+"/restore-drills?limit=30", "")
	if m := mustJSON(t, body); code != 200 || m["count"] != float64(1) || len(m["items"].([]any)) != 1 {
		t.Fatalf("GET drills: %d %s", code, body)
	}
	// The page reads RagFlowAuth's check statuses; the native routes serve
	// the same drill with check.Status.
	if !strings.Contains(body, `"status":"passed"`) {
		t.Fatalf("compat drill checks: %s", body)
	}
	if code, _, body := MustDo(t, srv, "GET", "/v1/drills", ""); code != 200 || !strings.Contains(body, "restore_drill_1") || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("GET /v1/drills: %d %s", code, body)
	}
	// job_id as a string of digits is accepted (the original parses it with int()).
	if code, _, body := MustDo(t, srv, "POST", "/v1/drills", strings.Replace(good, `"job_id": 1`, `"job_id": "1"`, 1)); code != 200 {
		t.Fatalf("string job_id: %d %s", code, body)
	}
}

func TestDrillRouteErrors(t *testing.T) {
	f := &drillFake{fakeBackend: newFake()}
	srv := MustServer(t, f, httpapi.Options{})
	body := func(kv ...string) string {
		fields := map[string]string{"job_id": "1", "backup_path": fmt.Sprintf("%q", dfPath), "backup_hash": fmt.Sprintf("%q", dfHash), "restore_target": `"staging"`}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(fields, kv[i])
			} else {
				fields[kv[i]] = kv[i+1]
			}
		}
		var parts []string
		for k, v := range fields {
			parts = append(parts, fmt.Sprintf("%q: %s", k, v))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	cases := []struct {
		name, body string
		code       int
		detail     string // prefix of the compat detail
	}{
		{"wrong hash", body("backup_hash", fmt.Sprintf("%q", strings.Repeat("b", 64))), 400, "backup_hash_mismatch"},
		{"wrong path", body("backup_path", `"/elsewhere"`), 400, "backup_path_mismatch"},
		{"unknown job", body("job_id", "42"), 404, "job_not_found"},
		{"job id not a number", body("job_id", `"x"`), 400, "invalid_job_id"},
		{"job id missing", body("job_id", ""), 400, "invalid_job_id"},
		{"path missing", body("backup_path", ""), 400, "backup_path_required"},
		{"hash empty", body("backup_hash", `""`), 400, "backup_hash_required"},
		{"target missing", body("restore_target", ""), 400, "restore_target_required"},
		{"target escapes", body("restore_target", `"/"`), 400, "invalid_restore_target"},
		{"executed_at_ms bad", body("executed_at_ms", `"soon"`), 400, "invalid_executed_at_ms"},
		{"unknown field", body("extra", "1"), 400, "unknown_field"},
		{"not JSON", "{", 400, "invalid_json"},
	}
	for _, tc := range cases {
		code, _, b := MustDo(t, srv, "POST", compat+"/restore-drills", tc.body)
		if code != tc.code || !strings.HasPrefix(mustJSON(t, b)["detail"].(string), tc.detail) {
			t.Errorf("%s: %d %s, want %d %s…", tc.name, code, b, tc.code, tc.detail)
		}
	}
	f.busy = true
	code, _, b := MustDo(t, srv, "POST", compat+"/restore-drills", body())
	if m := mustJSON(t, b); code != 409 || m["detail"] != "backup_job_already_running" || m["job_id"] != float64(7) {
		t.Fatalf("busy: %d %s", code, b)
	}
	code, _, b = MustDo(t, srv, "POST", "/v1/drills", body())
	if m := mustJSON(t, b); code != 409 || m["error"] != "backup_job_already_running" {
		t.Fatalf("busy (native): %d %s", code, b)
	}
	if code, _, b := MustDo(t, srv, "GET", compat+"/restore-drills?limit=x", ""); code != 400 {
		t.Fatalf("bad limit: %d %s", code, b)
	}
}

func TestDrillExecutedByIdentity(t *testing.T) {
	f := &drillFake{fakeBackend: newFake()}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(httpapi.WithIdentity(r.Context(), r.Header.Get("X-User"))))
		})
	}
	srv := MustServer(t, f, httpapi.Options{Auth: auth})
	body := fmt.Sprintf(`{"job_id": 1, "backup_path": %q, "backup_hash": %q, "restore_target": "staging"}`, dfPath, dfHash)
	if code, _, b := MustDo(t, srv, "POST", compat+"/restore-drills", body, "X-User", "alice"); code != 200 || mustJSON(t, b)["executed_by"] != "alice" {
		t.Fatalf("%d %s", code, b)
	}
}

func TestDrillRoutesNeedADrillRunner(t *testing.T) {
	srv := MustServer(t, newFake(), httpapi.Options{})
	if code, _, _ := MustDo(t, srv, "GET", "/v1/drills", ""); code != 404 {
		t.Fatalf("native drills without a DrillRunner: %d", code)
	}
	// A drill-running backend with the compat routes turned off keeps the native ones.
	srv = MustServer(t, &drillFake{fakeBackend: newFake()}, httpapi.Options{CompatPrefix: "-"})
	if code, _, _ := MustDo(t, srv, "GET", "/v1/drills", ""); code != 200 {
		t.Fatalf("native drills: %d", code)
	}
}
