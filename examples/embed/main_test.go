package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
)

// stubBackend answers every job lookup with one completed job.
type stubBackend struct{}

func (stubBackend) Start(context.Context, jobs.Request) (jobs.Job, error) {
	return jobs.Job{ID: 1, Status: jobs.StatusRunning}, nil
}
func (stubBackend) Get(_ context.Context, id int64) (jobs.Job, error) {
	return jobs.Job{ID: id, Status: jobs.StatusCompleted, Progress: 100}, nil
}
func (stubBackend) List(context.Context, jobs.ListOptions) ([]jobs.Job, error) { return nil, nil }
func (stubBackend) Cancel(_ context.Context, id int64, _ string) (jobs.Job, error) {
	return jobs.Job{ID: id}, nil
}
func (stubBackend) Subscribe(context.Context, int64) (<-chan jobs.Event, error) { return nil, nil }
func (stubBackend) Settings(context.Context) (settings.Settings, error) {
	return settings.Default(), nil
}
func (stubBackend) UpdateSettings(context.Context, settings.Patch) (settings.Settings, error) {
	return settings.Default(), nil
}
func (stubBackend) Packs(context.Context) ([]pack.Info, error) { return nil, nil }

func TestEmbeddedUnderPrefixWithAppAuth(t *testing.T) {
	api, err := httpapi.New(stubBackend{}, httpapi.Options{Auth: adminOnly("the-key")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newMux(api))
	defer srv.Close()
	get := func(path, key string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if key != "" {
			req.Header.Set("X-Admin-Key", key)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		path, key string
		status    int
		body      string
	}{
		{"/", "", 200, "admin backend"},
		{"/admin/backup/v1/jobs/3", "", 401, "admin login required"},
		{"/admin/backup/v1/jobs/3", "wrong", 401, "admin login required"},
		{"/admin/backup/v1/jobs/3", "the-key", 200, `"id":3`},
		{"/admin/backup/api/admin/data-security/backup/jobs/4", "the-key", 200, `"id":4`},
		{"/admin/backup/healthz", "", 200, `"ok"`},
		{"/v1/jobs/3", "the-key", 404, ""},
	}
	for _, c := range cases {
		code, body := get(c.path, c.key)
		if code != c.status || !strings.Contains(body, c.body) {
			t.Errorf("GET %s (key %q): %d %s, want %d with %q", c.path, c.key, code, body, c.status, c.body)
		}
	}
}
