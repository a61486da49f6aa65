package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
)

// oneJob is a Backend whose lock is held by job 7 (a real daemon passes its *jobs.Manager).
type oneJob struct{ httpapi.Backend }

func (oneJob) Start(context.Context, jobs.Request) (jobs.Job, error) {
	return jobs.Job{}, &jobs.BusyError{JobID: 7, Owner: "host db1 pid 42"}
}

func (oneJob) Get(_ context.Context, id int64) (jobs.Job, error) {
	if id != 7 {
		return jobs.Job{}, jobs.ErrJobNotFound
	}
	return jobs.Job{ID: 7, Kind: jobs.KindFull, Status: jobs.StatusRunning, Progress: 42}, nil
}

func ExampleNew() {
	h, err := httpapi.New(oneJob{}, httpapi.Options{Token: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		panic(err)
	}
	do := func(method, path, token string) {
		req := httptest.NewRequest(method, path, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	do(http.MethodGet, "/healthz", "")
	do(http.MethodGet, "/v1/jobs/7", "")
	do(http.MethodPost, "/api/admin/data-security/backup/run", "0123456789abcdef0123456789abcdef") // busy: the running job's id
	do(http.MethodPost, "/v1/backups", "0123456789abcdef0123456789abcdef")                         // busy: 409 and the holder
	do(http.MethodGet, "/api/admin/data-security/backup/jobs/8", "0123456789abcdef0123456789abcdef")
	do(http.MethodGet, "/api/admin/data-security/backup/jobs/x", "0123456789abcdef0123456789abcdef")
	// Output:
	// 200 {"status":"ok"}
	// 401 {"error":"unauthorized","detail":"this route needs the header Authorization: Bearer <token> (the token file is named in the daemon's log)"}
	// 200 {"job_id":7}
	// 409 {"error":"backup_job_already_running","detail":"a backup is already running (job 7, host db1 pid 42): wait for it or cancel it","job_id":7}
	// 404 {"detail":"job_not_found"}
	// 400 {"detail":"invalid_job_id"}
}
