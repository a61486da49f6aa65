package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
)

// lockingFake is the fake backend with a lock (a LockReporter).
type lockingFake struct {
	*fakeBackend
	lock jobs.LockInfo
}

func (l lockingFake) Lock(context.Context) (jobs.LockInfo, error) { return l.lock, nil }

// The client reads what the handler serves: lock, jobs, settings.
func TestClientRoundTrip(t *testing.T) {
	f := newFake()
	f.settings.RagflowProjectName = "ragflow"
	srv := MustServer(t, lockingFake{f, jobs.LockInfo{Held: true, JobID: 2, Host: "nas", PID: 9}}, httpapi.Options{})
	ctx := t.Context()
	for range 3 {
		if _, err := f.Start(ctx, jobs.Request{}); err != nil {
			t.Fatal(err)
		}
		f.holder = 0
	}
	c, err := httpapi.NewClient(srv.URL+"/", testToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != srv.URL {
		t.Errorf("base URL %q", c.BaseURL())
	}
	if l, err := c.Lock(ctx); err != nil || !l.Held || l.JobID != 2 || l.Host != "nas" {
		t.Errorf("lock %+v %v", l, err)
	}
	if recent, err := c.List(ctx, jobs.ListOptions{Limit: 2}); err != nil || len(recent) != 2 || recent[0].ID != 3 {
		t.Errorf("jobs %+v %v", recent, err)
	}
	if f.lastList.Limit != 2 {
		t.Errorf("the limit reached the backend as %d", f.lastList.Limit)
	}
	if s, err := c.Settings(ctx); err != nil || s.RagflowProjectName != "ragflow" {
		t.Errorf("settings %+v %v", s, err)
	}
}

func TestClientErrors(t *testing.T) {
	srv := MustServer(t, newFake(), httpapi.Options{})
	wrong, err := httpapi.NewClient(srv.URL, "wrong-token-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Settings(t.Context()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a wrong token: %v", err)
	}
	c, _ := httpapi.NewClient(srv.URL, testToken)
	if _, err := c.Lock(t.Context()); err == nil || !strings.Contains(err.Error(), "/v1/lock") {
		t.Errorf("a backend without a lock: %v", err)
	}
	for _, bad := range []string{"ftp://x", "localhost:8420", "http://", "://"} {
		if _, err := httpapi.NewClient(bad, testToken); err == nil {
			t.Errorf("URL %q accepted", bad)
		}
	}
	if _, err := httpapi.NewClient(srv.URL, "short"); err == nil {
		t.Error("a short token accepted")
	}
}
