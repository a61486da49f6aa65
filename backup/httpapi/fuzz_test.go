package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/httpapi"
)

// FuzzRequests: whatever the body, path segment or query, a client's
// request never gets a 5xx, and every error answer is JSON with a detail.
func FuzzRequests(f *testing.F) {
	f.Add("PUT", "/v1/settings", "", `{"backup_retention_max": 5, "change_reason": "x"}`)
	f.Add("PUT", "/api/admin/data-security/settings", "", `{"incremental_schedule": null, "change_reason": "x"}`)
	f.Add("POST", "/v1/backups", "", `{"components": ["db"]}`)
	f.Add("GET", "/v1/jobs/", "1", "")
	f.Add("POST", "/v1/jobs/", "1/cancel", `{"reason": "r"}`)
	f.Add("GET", "/v1/jobs", "?limit=5&status=failed", "")
	f.Add("GET", "/api/admin/data-security/backup/jobs", "?limit=abc", "")
	f.Fuzz(func(t *testing.T, method, base, tail, body string) {
		if !strings.HasPrefix(base, "/") {
			return
		}
		f := newFake()
		h, err := httpapi.New(f, httpapi.Options{Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(base + tail)
		if err != nil {
			return
		}
		req, err := http.NewRequest(method, "http://x"+u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
			t.Errorf("%s %s %q: %d %s", method, u, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") == "application/json" && !strings.Contains(rec.Body.String(), `"detail"`) {
			t.Errorf("%s %s: error without detail: %s", method, u, rec.Body.String())
		}
	})
}
