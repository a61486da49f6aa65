//go:build integration

package integration_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestRagFlowAuthJWT: the page's own login reaches dockpack — an admin's
// token (RagFlowAuth's users.role = 'admin', looked up read-only in its
// database) passes and its sub is recorded as executed_by and verified_by;
// a valid token of a sub_admin or a disabled admin is 403 admin_required;
// a wrong secret, alg none, HS512, RS256, an expired token and a refresh
// token are 401; no refused request changes anything.
func TestRagFlowAuthJWT(t *testing.T) {
	s := raNewStack(t, 64<<10)
	target := MustTmpfs(t, 128<<20)
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s, noSched: true, args: raJWTArgs, env: raJWTEnv})
	admin := &raPage{t: t, d: d, token: raToken(t, raClaims("u-admin"), nil, nil)}
	admin.open()
	job, _ := admin.poll(admin.start("/backup/run"), 2*time.Minute)
	raDrillWithChineseTarget(t, admin, job)

	state := func() string {
		_, j := d.do("GET", "/v1/jobs?limit=200", "")
		_, dr := d.do("GET", "/v1/drills", "")
		_, st := d.do("GET", "/v1/settings", "")
		_, rs := d.do("GET", "/v1/restores", "")
		return fmt.Sprintf("%d %s %v %s", strings.Count(string(j), `"id":`), dr, dmJSON(t, st)["updated_at_ms"], rs)
	}
	before := state()

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := raClaims("u-admin")
		edit(c)
		return c
	}
	unauthorized := map[string]string{
		"wrong secret": raToken(t, raClaims("u-admin"), jwt.SigningMethodHS256, []byte("not-the-secret-0123456789abcdef")),
		"alg none":     raToken(t, raClaims("u-admin"), jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType),
		"HS512":        raToken(t, raClaims("u-admin"), jwt.SigningMethodHS512, []byte(raSecret)),
		"RS256":        raToken(t, raClaims("u-admin"), jwt.SigningMethodRS256, key),
		"expired":      raToken(t, with(func(c jwt.MapClaims) { c["exp"] = float64(time.Now().Add(-time.Hour).Unix()) }), nil, nil),
		"refresh":      raToken(t, with(func(c jwt.MapClaims) { c["type"] = "refresh" }), nil, nil),
	}
	forbidden := map[string]string{
		"sub_admin":      raToken(t, raClaims("u-sub"), nil, nil),
		"disabled admin": raToken(t, raClaims("u-off"), nil, nil),
		"unknown user":   raToken(t, raClaims("u-nobody"), nil, nil),
	}
	drill := fmt.Sprintf(`{"job_id": %v, "backup_path": %q, "backup_hash": %q, "restore_target": "x"}`, job["id"], job["output_dir"], job["package_hash"])
	restore := fmt.Sprintf(`{"job_id": %v, "backup_path": %q, "backup_hash": %q, "change_reason": "x", "confirmation_text": "RESTORE"}`,
		job["id"], job["output_dir"], job["package_hash"])
	routes := []struct{ method, path, body string }{
		{"POST", raCompat + "/backup/run", "{}"}, {"POST", raCompat + "/backup/run-full", "{}"},
		{"PUT", raCompat + "/settings", `{"backup_retention_max": 3, "change_reason": "x"}`},
		{"POST", raCompat + "/restore-drills", drill}, {"POST", raCompat + "/restore/run", restore},
		{"POST", fmt.Sprintf("%s/backup/jobs/%v/cancel", raCompat, job["id"]), "{}"},
		{"GET", raCompat + "/backup/jobs?limit=30", ""}, {"GET", "/v1/settings", ""}, {"POST", "/v1/backups", "{}"},
	}
	for name, tok := range unauthorized {
		p := &raPage{t: t, d: d, token: tok}
		for _, rt := range routes {
			if code, b := p.raw(rt.method, rt.path, rt.body); code != 401 {
				t.Errorf("%s: %s %s answered %d %s, want 401", name, rt.method, rt.path, code, b)
			}
		}
	}
	for name, tok := range forbidden {
		p := &raPage{t: t, d: d, token: tok}
		for _, rt := range routes {
			code, b := p.raw(rt.method, rt.path, rt.body)
			want := `{"detail":"admin_required"}`
			if !strings.HasPrefix(rt.path, raCompat) {
				want = `"error":"admin_required"`
			}
			if code != 403 || !strings.Contains(string(b), want) {
				t.Errorf("%s: %s %s answered %d %s, want 403 admin_required", name, rt.method, rt.path, code, b)
			}
		}
	}
	if after := state(); after != before {
		t.Errorf("refused requests changed the state:\n before %s\n after  %s", before, after)
	}
	t.Logf("%d refused tokens × %d routes: 401; %d non-admin tokens × %d routes: 403", len(unauthorized), len(routes), len(forbidden), len(routes))
}

// daemonRoutes is every route of `dockpack serve` (with a body where it takes one).
var daemonRoutes = []struct{ method, path, body string }{
	{"POST", "/v1/backups", `{}`}, {"GET", "/v1/jobs", ""}, {"GET", "/v1/jobs/1", ""}, {"POST", "/v1/jobs/1/cancel", ""},
	{"GET", "/v1/jobs/1/events", ""}, {"GET", "/v1/jobs/1/log", ""}, {"GET", "/v1/packs", ""}, {"GET", "/v1/settings", ""},
	{"PUT", "/v1/settings", `{"change_reason":"x"}`}, {"GET", "/v1/lock", ""}, {"GET", "/v1/schedule", ""}, {"GET", "/v1/drills", ""},
	{"POST", "/v1/drills", "{}"}, {"GET", "/v1/restores", ""}, {"POST", "/v1/restores", "{}"}, {"GET", "/v1/doctor", ""},
	{"GET", "/v1/verifications", ""}, {"POST", "/v1/packs/x/verify", "{}"}, {"GET", "/v1/packs/x/restore-plan", ""},
	{"GET", "/v1/settings/fields", ""}, {"GET", "/metrics", ""},
	{"POST", raCompat + "/backup/run", `{}`}, {"POST", raCompat + "/backup/run-full", `{}`}, {"GET", raCompat + "/backup/jobs?limit=30", ""},
	{"GET", raCompat + "/backup/jobs/1", ""}, {"POST", raCompat + "/backup/jobs/1/cancel", `{}`}, {"GET", raCompat + "/settings", ""},
	{"PUT", raCompat + "/settings", `{"change_reason":"x"}`}, {"GET", raCompat + "/restore-drills?limit=30", ""},
	{"POST", raCompat + "/restore-drills", "{}"}, {"POST", raCompat + "/restore/run", "{}"},
	{"GET", "/healthz", ""}, {"GET", "/ui/", ""}, {"GET", "/ui/i18n/en.json", ""}, {"GET", "/no/such/route", ""},
}

// raRaw sends a request as given (no path cleaning, no redirect followed).
func raRaw(d *dmDaemon, method, path string, body io.Reader, size int64, token string, expect bool) (int, string, error) {
	req, err := http.NewRequest(method, d.url+path, body)
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
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), err
}

// TestDaemonHTTPEdges: on every route of the daemon, paths with . and ..
// segments are 401 without a token and 400 with one — never a redirect
// (http.ServeMux would answer 307 to the cleaned path before
// authentication); a 10 MiB body is 401 without a token and 413 with one,
// also after "Expect: 100-continue" — never a connection reset or a 5xx.
func TestDaemonHTTPEdges(t *testing.T) {
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: MustTmpfs(t, 16<<20), noSched: true})
	if code, body, err := raRaw(d, "GET", "/v1/jobs/../../../etc/passwd", nil, 0, "", false); err != nil || code != 401 {
		t.Fatalf("GET /v1/jobs/../../../etc/passwd without a token: %d %v %s", code, err, body)
	}
	big := bytes.Repeat([]byte("x"), 10<<20)
	n := 0
	for _, rt := range daemonRoutes {
		p, _, _ := strings.Cut(rt.path, "?")
		for _, bad := range []string{p + "/..", p + "/../../../etc/passwd", "/" + p, "/." + p, p + "/./x", p + "/%2e%2e/x"} {
			for _, tok := range []string{"", dmToken} {
				code, body, err := raRaw(d, rt.method, bad, nil, 0, tok, false)
				n++
				if want := map[bool]int{true: 400, false: 401}[tok != ""]; err != nil || code != want {
					t.Errorf("%s %s (token %v): %d %v %s, want %d", rt.method, bad, tok != "", code, err, body, want)
				}
			}
		}
		public := rt.path == "/healthz" || strings.HasPrefix(rt.path, "/ui/")
		for _, tok := range []string{"", dmToken} {
			for _, expect := range []bool{false, true} {
				code, body, err := raRaw(d, rt.method, rt.path, bytes.NewReader(big), int64(len(big)), tok, expect)
				n++
				want := 413
				if tok == "" && !public {
					want = 401
				}
				if err != nil || code != want {
					t.Errorf("%s %s with 10 MiB (token %v, expect %v): %d %v %s, want %d", rt.method, rt.path, tok != "", expect, code, err, body, want)
				}
			}
		}
		code, body, err := raRaw(d, rt.method, rt.path, bytes.NewReader(big), -1, dmToken, false) // chunked: no length announced
		n++
		if err != nil || code >= 500 || (code >= 300 && code < 400) {
			t.Errorf("%s %s with 10 MiB chunked: %d %v %s", rt.method, rt.path, code, err, body)
		}
	}
	if code, b := d.do("GET", "/v1/jobs", ""); code != 200 || !strings.Contains(string(b), `"jobs":[]`) {
		t.Errorf("the edge requests created jobs: %s", b)
	}
	t.Logf("%d requests on %d routes: no redirect, no reset, no 5xx", n, len(daemonRoutes))
}
