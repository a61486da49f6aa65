package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/httpapi"
)

// edgeRoutes is every route of a Backend with every optional interface the
// compat fake has, plus the public ones.
var edgeRoutes = append(append([]struct{ method, path, body string }{}, allRoutes...),
	struct{ method, path, body string }{"POST", compat + "/restore/run", "{}"},
	struct{ method, path, body string }{"POST", "/v1/restores", "{}"},
	struct{ method, path, body string }{"GET", "/v1/restores", ""},
	struct{ method, path, body string }{"GET", "/healthz", ""},
)

// rawDo sends a request without following redirects; the path is sent as
// given (no cleaning). The error is a transport error (a reset).
func rawDo(srv *httptest.Server, method, path string, body io.Reader, size int64, token string, expect bool) (int, string, error) {
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		return 0, "", err
	}
	req.ContentLength = size
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if expect {
		req.Header.Set("Expect", "100-continue")
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestDotDotPathsNeverRedirect(t *testing.T) {
	f := newCompatFake()
	srv := MustServer(t, f, httpapi.Options{})
	for _, rt := range edgeRoutes {
		p, _, _ := strings.Cut(rt.path, "?")
		for _, bad := range []string{p + "/..", p + "/../../../etc/passwd", "/v1/jobs/../../../etc/passwd", "/" + p, p[:1] + "./" + p[1:],
			strings.Replace(p, "/", "//", 2), p + "/%2e%2e/x", compat + "/../../../v1/jobs"} {
			for _, token := range []string{"", testToken} {
				code, body, err := rawDo(srv, rt.method, bad, nil, 0, token, false)
				want := 401
				if token != "" {
					want = 400
				}
				if err != nil || code != want {
					t.Errorf("%s %s (token %v): %d %v %s, want %d", rt.method, bad, token != "", code, err, body, want)
				}
			}
		}
	}
	if f.mutations() != 0 {
		t.Errorf("bad paths changed state: %d", f.mutations())
	}
}

func TestOversizedBodiesAreAnswered(t *testing.T) {
	f := newCompatFake()
	srv := MustServer(t, f, httpapi.Options{MaxBodyBytes: 64 << 10})
	big := bytes.Repeat([]byte("x"), 10<<20)
	for _, rt := range edgeRoutes {
		for _, token := range []string{"", testToken} {
			for _, expect := range []bool{false, true} {
				code, body, err := rawDo(srv, rt.method, rt.path, bytes.NewReader(big), int64(len(big)), token, expect)
				want := 413
				if token == "" && rt.path != "/healthz" {
					want = 401
				}
				if err != nil || code != want {
					t.Errorf("%s %s 10 MiB (token %v, expect %v): %d %v %s, want %d", rt.method, rt.path, token != "", expect, code, err, truncateBody(body), want)
				}
			}
		}
		// Chunked (no length announced): a route that reads the body says 413;
		// none resets the connection.
		code, body, err := rawDo(srv, rt.method, rt.path, io.MultiReader(bytes.NewReader(big)), -1, testToken, false)
		if err != nil || code >= 500 || (code >= 300 && code < 400) {
			t.Errorf("%s %s chunked: %d %v %s", rt.method, rt.path, code, err, truncateBody(body))
		}
	}
	// Announced beyond what is drained: refused without reading (the
	// client waiting for 100 Continue never sends it).
	huge := int64(64 << 20)
	code, _, err := rawDo(srv, "PUT", "/v1/settings", io.LimitReader(zeros{}, huge), huge, testToken, true)
	if err != nil || code != 413 {
		t.Errorf("64 MiB with Expect: %d %v", code, err)
	}
	if f.mutations() != 0 {
		t.Errorf("oversized bodies changed state: %d", f.mutations())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func truncateBody(s string) string {
	if len(s) > 200 {
		return s[:200] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// A route that reads a chunked body beyond the limit after a 100 Continue
// still answers 413 cleanly.
func TestOversizedChunkedAfterContinue(t *testing.T) {
	srv := MustServer(t, newCompatFake(), httpapi.Options{MaxBodyBytes: 64 << 10})
	big := bytes.Repeat([]byte("x"), 10<<20)
	for _, p := range []string{"/v1/settings", compat + "/settings"} {
		t0 := time.Now()
		code, body, err := rawDo(srv, "PUT", p, io.MultiReader(bytes.NewReader(big)), -1, testToken, true)
		if err != nil || code != 413 || time.Since(t0) > 3*time.Second {
			t.Errorf("PUT %s chunked with Expect: %d %v %s in %v", p, code, err, truncateBody(body), time.Since(t0))
		}
	}
}
