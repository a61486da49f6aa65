package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/internal/i18n"
)

// compatFake is fakeBackend plus the optional interfaces the compat
// semantics use: the lock, the prechecks of a start, real restores.
type compatFake struct {
	*fakeBackend
	cmu         sync.Mutex
	precheck    func(req jobs.Request) (*backup.PackPlan, error)
	restoreErr  error
	lastRestore jobs.LiveRestoreRequest
	restores    []jobs.LiveRestore
}

func newCompatFake() *compatFake { return &compatFake{fakeBackend: newFake()} }

func (f *compatFake) Lock(ctx context.Context) (jobs.LockInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return jobs.LockInfo{Held: f.holder != 0, JobID: f.holder}, nil
}

func (f *compatFake) Precheck(ctx context.Context, req jobs.Request) (*backup.PackPlan, error) {
	if f.precheck == nil {
		return &backup.PackPlan{}, nil
	}
	return f.precheck(req)
}

func (f *compatFake) RunLiveRestore(ctx context.Context, req jobs.LiveRestoreRequest) (jobs.LiveRestore, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	f.lastRestore = req
	if f.restoreErr != nil {
		return jobs.LiveRestore{}, f.restoreErr
	}
	lr := jobs.LiveRestore{RestoreID: fmt.Sprintf("live_restore_%d", len(f.restores)+1), JobID: req.JobID, BackupPath: req.BackupPath,
		BackupHash: req.BackupHash, HashMatch: true, CompareMatch: true, LiveAuthDBPath: "/app/data/auth.db",
		ExecutedBy: req.ExecutedBy, ChangeReason: req.ChangeReason, Status: "completed", Result: "success", StoppedContainers: []string{}}
	f.restores = append([]jobs.LiveRestore{lr}, f.restores...)
	return lr, nil
}

func (f *compatFake) ListLiveRestores(ctx context.Context, limit int) ([]jobs.LiveRestore, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	return f.restores, nil
}

func TestCompatBusyAnswersTheRunningJob(t *testing.T) {
	f := newCompatFake()
	srv := MustServer(t, f, httpapi.Options{Lang: i18n.Chinese})
	if code, _, body := MustDo(t, srv, "POST", compat+"/backup/run", "{}"); code != 200 || strings.TrimSpace(body) != `{"job_id":1}` {
		t.Fatalf("run: %d %s", code, body)
	}
	for _, p := range []string{"/backup/run", "/backup/run-full"} {
		if code, _, body := MustDo(t, srv, "POST", compat+p, "{}"); code != 200 || strings.TrimSpace(body) != `{"job_id":1}` {
			t.Errorf("%s while job 1 runs: %d %s", p, code, body)
		}
	}
	if code, _, body := MustDo(t, srv, "POST", "/v1/backups", ""); code != 409 || mustJSON(t, body)["job_id"] != float64(1) {
		t.Errorf("native busy: %d %s", code, body)
	}
	if f.mutations() != 1 {
		t.Errorf("%d starts reached the backend, want 1", f.mutations())
	}
	// The lock is held for job 1, which has ended (a drill or a real
	// restore of its pack holds it): a 409 that says so.
	f.mu.Lock()
	j := f.jobs[1]
	j.Status = jobs.StatusCompleted
	f.jobs[1] = j
	f.mu.Unlock()
	code, _, body := MustDo(t, srv, "POST", compat+"/backup/run", "{}")
	m := mustJSON(t, body)
	if d, _ := m["detail"].(string); code != 409 || m["job_id"] != float64(1) || !strings.Contains(d, "恢复演练") {
		t.Errorf("lock held by a drill: %d %s", code, body)
	}
}

func TestCompatPrecheckRefusesBeforeAJob(t *testing.T) {
	f := newCompatFake()
	f.precheck = func(req jobs.Request) (*backup.PackPlan, error) {
		return &backup.PackPlan{Checks: []check.Check{
			{Name: "engine", Status: check.OK, Code: "ok"},
			{Name: "target", Status: check.Fail, Code: "target_not_mounted", Summary: "备份目标 /mnt/nas 未挂载"},
			{Name: "sqlite", Status: check.Fail, Code: "sqlite_not_found", Summary: "数据库 /app/data/auth.db 不存在"},
		}}, fmt.Errorf("%w: 2 checks failed", backup.ErrPrecheck)
	}
	var refused []string
	srv := MustServer(t, f, httpapi.Options{Lang: i18n.Chinese, OnStartRefused: func(code string) { refused = append(refused, code) }})
	for _, p := range []string{"/backup/run", "/backup/run-full"} {
		code, _, body := MustDo(t, srv, "POST", compat+p, "{}")
		want := `{"detail":"无法开始备份：备份目标 /mnt/nas 未挂载；数据库 /app/data/auth.db 不存在"}`
		if code != 400 || strings.TrimSpace(body) != want {
			t.Errorf("%s: %d %s, want 400 %s", p, code, body, want)
		}
	}
	if len(refused) != 2 || refused[0] != "target_not_mounted" {
		t.Errorf("refusals reported %v", refused)
	}
	if f.mutations() != 0 || len(f.jobs) != 0 {
		t.Errorf("a refused start created a job: %+v", f.jobs)
	}
	// Settings that cannot make a backup: a sentence too.
	f.precheck = func(jobs.Request) (*backup.PackPlan, error) {
		return nil, fmt.Errorf("%w: local_backup_target_not_configured: no backup target directory is configured", backup.ErrInvalidSpec)
	}
	code, _, body := MustDo(t, srv, "POST", compat+"/backup/run", "{}")
	if d, _ := mustJSON(t, body)["detail"].(string); code != 400 || !strings.Contains(d, "target_local_dir") || !strings.HasPrefix(d, "无法开始备份") {
		t.Errorf("no target: %d %s", code, body)
	}
	// A precheck that cannot run lets the start go on.
	f.precheck = func(jobs.Request) (*backup.PackPlan, error) { return nil, context.DeadlineExceeded }
	if code, _, body := MustDo(t, srv, "POST", compat+"/backup/run", "{}"); code != 200 {
		t.Errorf("precheck timed out: %d %s", code, body)
	}
}

func TestCompatProgressIsFullOnceEnded(t *testing.T) {
	f := newFake()
	for i, st := range []struct {
		status   jobs.Status
		progress int
	}{{jobs.StatusFailed, 54}, {jobs.StatusCanceled, 0}, {jobs.StatusCompleted, 100}, {jobs.StatusRunning, 40}, {jobs.StatusCanceling, 12}} {
		id := int64(i + 1)
		f.jobs[id] = jobs.Job{ID: id, Status: st.status, Progress: st.progress, BytesDone: 99}
	}
	f.nextID = 5
	srv := MustServer(t, f, httpapi.Options{})
	want := map[string][]int{compat + "/backup/jobs": {100, 100, 100, 40, 12}, "/v1/jobs": {54, 0, 100, 40, 12}}
	for base, progress := range want {
		for i, p := range progress {
			_, _, body := MustDo(t, srv, "GET", fmt.Sprintf("%s/%d", base, i+1), "")
			if got := mustJSON(t, body)["progress"]; got != float64(p) {
				t.Errorf("GET %s/%d: progress %v, want %d", base, i+1, got, p)
			}
		}
		_, _, body := MustDo(t, srv, "GET", base+"?limit=30", "")
		var list struct{ Jobs []jobs.Job }
		json.Unmarshal([]byte(body), &list)
		for _, j := range list.Jobs {
			if j.Progress != progress[j.ID-1] || j.BytesDone != 99 {
				t.Errorf("list %s: job %d progress %d bytes %d", base, j.ID, j.Progress, j.BytesDone)
			}
		}
	}
}

func TestCompatLegacySettings(t *testing.T) {
	f := newFake()
	srv := MustServer(t, f, httpapi.Options{})
	legacy := `"interval_minutes": 60, "target_ip": "10.0.0.5", "target_share_name": "backup", "target_subdir": "auth",
		"replica_enabled": true, "replica_target_path": "/mnt/replica", "replica_subdir_format": "date"`
	code, _, body := MustDo(t, srv, "PUT", compat+"/settings", `{`+legacy+`, "backup_retention_max": 7, "change_reason": "old page"}`)
	if code != 200 || len(f.lastPtch.Values) != 1 || string(f.lastPtch.Values["backup_retention_max"]) != "7" {
		t.Fatalf("legacy fields: %d %s %+v", code, body, f.lastPtch)
	}
	if code, _, body := MustDo(t, srv, "PUT", compat+"/settings", `{`+legacy+`, "change_reason": "only legacy"}`); code != 200 {
		t.Errorf("only legacy fields: %d %s", code, body)
	}
	_, _, body = MustDo(t, srv, "GET", compat+"/settings", "")
	m := mustJSON(t, body)
	if m["interval_minutes"] != float64(1440) || m["replica_enabled"] != false || m["replica_subdir_format"] != "flat" || m["target_ip"] != "" {
		t.Errorf("GET shows %s", body)
	}
	for _, b := range []string{`{"bogus": 1, "change_reason": "x"}`, `{"replica_enabled": true}`} {
		if code, _, body := MustDo(t, srv, "PUT", compat+"/settings", b); code != 400 {
			t.Errorf("%s: %d %s", b, code, body)
		}
	}
	// The advanced form with no database configured: it echoes RagFlowAuth's
	// default path, null and zero-padded crons.
	adv := `{"enabled": false, "incremental_schedule": null, "full_backup_enabled": true, "full_backup_schedule": "00 02 * * 5",
		"ragflow_compose_path": "", "ragflow_stop_services": false, "auth_db_path": "data/auth.db", "full_backup_include_images": true,
		"change_reason": "switch schedule"}`
	code, _, body = MustDo(t, srv, "PUT", compat+"/settings", adv)
	if m := mustJSON(t, body); code != 200 || m["full_backup_schedule"] != "00 02 * * 5" || m["incremental_schedule"] != nil || m["auth_db_path"] != "" {
		t.Errorf("advanced save: %d %s", code, body)
	}
	if _, ok := f.lastPtch.Values["auth_db_path"]; ok {
		t.Errorf("the echoed default auth_db_path reached the settings: %+v", f.lastPtch)
	}
}

func TestLiveRestoreRoutes(t *testing.T) {
	f := newCompatFake()
	srv := MustServer(t, f, httpapi.Options{})
	body := `{"job_id": 201, "backup_path": "/mnt/nas/auth/migration_pack_1", "backup_hash": "` + dfHash + `",
		"change_reason": "recover deleted user", "confirmation_text": "RESTORE"}`
	code, _, out := MustDo(t, srv, "POST", compat+"/restore/run", body)
	if m := mustJSON(t, out); code != 200 || m["live_auth_db_path"] != "/app/data/auth.db" || m["result"] != "success" {
		t.Fatalf("restore: %d %s", code, out)
	}
	if r := f.lastRestore; r.JobID != 201 || r.ChangeReason != "recover deleted user" || r.ConfirmationText != "RESTORE" || r.ExecutedBy != "" {
		t.Errorf("request %+v", r)
	}
	if code, _, out := MustDo(t, srv, "POST", "/v1/restores", strings.Replace(body, "201", `"201"`, 1)); code != 200 {
		t.Errorf("native restore: %d %s", code, out)
	}
	if code, _, out := MustDo(t, srv, "GET", "/v1/restores?limit=5", ""); code != 200 || mustJSON(t, out)["count"] != float64(2) {
		t.Errorf("list: %d %s", code, out)
	}
	for _, b := range []string{`{}`, `{"job_id": "x"}`, `{"job_id": 1, "extra": 1}`, `[]`} {
		if code, _, out := MustDo(t, srv, "POST", compat+"/restore/run", b); code != 400 {
			t.Errorf("%s: %d %s", b, code, out)
		}
	}
	cases := []struct {
		err    error
		status int
		detail string
		jobID  float64
	}{
		{&jobs.RestoreError{Code: "restore_confirmation_text_invalid", Message: "the confirmation \"restore\" is not RESTORE"}, 400,
			`restore_confirmation_text_invalid: the confirmation "restore" is not RESTORE`, 0},
		{&jobs.RestoreError{Code: "restore_live_auth_db_in_use", Message: "still in use", Conflict: true}, 409, "restore_live_auth_db_in_use: still in use", 0},
		{&jobs.RestoreError{Code: "restore_requires_no_active_backup_job:9", Message: "busy", Conflict: true, Err: &jobs.BusyError{JobID: 9}}, 409,
			"restore_requires_no_active_backup_job:9: busy", 9},
		{fmt.Errorf("%w: job 201", jobs.ErrJobNotFound), 404, "job_not_found", 0},
	}
	for _, c := range cases {
		f.restoreErr = c.err
		code, _, out := MustDo(t, srv, "POST", compat+"/restore/run", body)
		m := mustJSON(t, out)
		if code != c.status || m["detail"] != c.detail || (c.jobID != 0 && m["job_id"] != c.jobID) {
			t.Errorf("%v: %d %s, want %d %q", c.err, code, out, c.status, c.detail)
		}
	}
}

// A Backend without real restores answers 404 on the route (the page
// shows the error), like any unknown route.
func TestLiveRestoreRouteAbsent(t *testing.T) {
	srv := MustServer(t, newFake(), httpapi.Options{})
	if code, _, body := MustDo(t, srv, "POST", compat+"/restore/run", "{}"); code != http.StatusNotFound {
		t.Errorf("restore/run without a LiveRestorer: %d %s", code, body)
	}
}
