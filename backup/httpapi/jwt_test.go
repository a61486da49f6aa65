package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dockpack/dockpack/backup/httpapi"
)

var jwtSecret = []byte("ragflowauth-test-secret-0123456789")

// mustToken signs claims like RagFlowAuth's AuthX does (HS256 unless another method is given).
func mustToken(t testing.TB, claims jwt.MapClaims, method jwt.SigningMethod, key any) string {
	t.Helper()
	if method == nil {
		method, key = jwt.SigningMethodHS256, jwtSecret
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// accessClaims are an access token's claims as AuthX writes them (float times).
func accessClaims(sub string) jwt.MapClaims {
	now := float64(time.Now().UnixNano()) / 1e9
	return jwt.MapClaims{"sub": sub, "type": "access", "jti": "j1", "iat": now, "exp": now + 900, "fresh": false, "scopes": []any{}, "sid": "s1", "csrf": ""}
}

// jwtOptions: u-root is an admin by the allow-list; the lookup knows
// u-admin (admin) and u-sub (not); u-broken makes it fail.
func jwtOptions() *httpapi.JWTOptions {
	return &httpapi.JWTOptions{Secret: jwtSecret, Admins: []string{"u-root"},
		IsAdmin: func(ctx context.Context, c httpapi.Claims) (bool, error) {
			switch c.Subject {
			case "u-admin":
				return c.SessionID == "s1", nil
			case "u-broken":
				return false, errors.New("database unreadable")
			}
			return false, nil
		}}
}

func TestJWTAdminPassesAndIsRecorded(t *testing.T) {
	f := newCompatFake()
	srv := MustServer(t, f, httpapi.Options{JWT: jwtOptions()})
	for _, sub := range []string{"u-admin", "u-root"} {
		tok := mustToken(t, accessClaims(sub), nil, nil)
		if code, _, body := MustDo(t, srv, "GET", compat+"/settings", "", "Authorization", "Bearer "+tok); code != 200 {
			t.Errorf("%s: settings %d %s", sub, code, body)
		}
		code, _, body := MustDo(t, srv, "POST", compat+"/restore/run",
			`{"job_id": 1, "backup_path": "/p", "backup_hash": "h", "change_reason": "r", "confirmation_text": "RESTORE"}`, "Authorization", "Bearer "+tok)
		if code != 200 || f.lastRestore.ExecutedBy != sub || mustJSON(t, body)["executed_by"] != sub {
			t.Errorf("%s: restore %d %s, actor %q", sub, code, body, f.lastRestore.ExecutedBy)
		}
	}
	// The daemon's own token still works (no identity).
	if code, _, _ := MustDo(t, srv, "GET", "/v1/jobs", ""); code != 200 {
		t.Errorf("daemon token: %d", code)
	}
}

func TestJWTRefusals(t *testing.T) {
	f := newCompatFake()
	srv := MustServer(t, f, httpapi.Options{JWT: jwtOptions()})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := accessClaims("u-admin")
		edit(c)
		return c
	}
	past := float64(time.Now().Add(-time.Hour).Unix())
	unauthorized := map[string]string{
		"wrong secret":  mustToken(t, accessClaims("u-admin"), jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef")),
		"alg none":      mustToken(t, accessClaims("u-admin"), jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType),
		"HS512":         mustToken(t, accessClaims("u-admin"), jwt.SigningMethodHS512, jwtSecret),
		"RS256":         mustToken(t, accessClaims("u-admin"), jwt.SigningMethodRS256, rsaKey),
		"expired":       mustToken(t, with(func(c jwt.MapClaims) { c["exp"] = past }), nil, nil),
		"refresh":       mustToken(t, with(func(c jwt.MapClaims) { c["type"] = "refresh" }), nil, nil),
		"no type":       mustToken(t, with(func(c jwt.MapClaims) { delete(c, "type") }), nil, nil),
		"no exp":        mustToken(t, with(func(c jwt.MapClaims) { delete(c, "exp") }), nil, nil),
		"no sub":        mustToken(t, with(func(c jwt.MapClaims) { delete(c, "sub") }), nil, nil),
		"future iat":    mustToken(t, with(func(c jwt.MapClaims) { c["iat"] = float64(time.Now().Add(time.Hour).Unix()) }), nil, nil),
		"not yet valid": mustToken(t, with(func(c jwt.MapClaims) { c["nbf"] = float64(time.Now().Add(time.Hour).Unix()) }), nil, nil),
		"garbage":       "aaa.bbb.ccc",
	}
	tampered := mustToken(t, accessClaims("u-sub"), nil, nil)
	parts := strings.Split(tampered, ".")
	adminPayload := strings.Split(mustToken(t, accessClaims("u-admin"), nil, nil), ".")[1]
	unauthorized["payload swapped"] = parts[0] + "." + adminPayload + "." + parts[2]
	for name, tok := range unauthorized {
		for _, rt := range []struct{ method, path, body string }{
			{"POST", compat + "/backup/run", "{}"}, {"PUT", compat + "/settings", `{"backup_retention_max": 3, "change_reason": "x"}`},
			{"POST", compat + "/restore/run", `{"job_id": 1, "backup_path": "/p", "backup_hash": "h", "change_reason": "r", "confirmation_text": "RESTORE"}`},
			{"GET", "/v1/jobs", ""},
		} {
			code, hdr, body := MustDo(t, srv, rt.method, rt.path, rt.body, "Authorization", "Bearer "+tok)
			if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s on %s %s: %d %s, want 401", name, rt.method, rt.path, code, body)
			}
		}
	}
	// A valid token of a user who is not an administrator: 403 admin_required.
	for _, sub := range []string{"u-sub", "u-unknown"} {
		tok := mustToken(t, accessClaims(sub), nil, nil)
		code, _, body := MustDo(t, srv, "POST", compat+"/backup/run", "{}", "Authorization", "Bearer "+tok)
		if code != 403 || strings.TrimSpace(body) != `{"detail":"admin_required"}` {
			t.Errorf("%s compat: %d %s", sub, code, body)
		}
		code, _, body = MustDo(t, srv, "GET", "/v1/settings", "", "Authorization", "Bearer "+tok)
		if code != 403 || mustJSON(t, body)["error"] != "admin_required" {
			t.Errorf("%s native: %d %s", sub, code, body)
		}
	}
	// The lookup cannot decide: 503, not a logout.
	tok := mustToken(t, accessClaims("u-broken"), nil, nil)
	if code, _, body := MustDo(t, srv, "GET", compat+"/settings", "", "Authorization", "Bearer "+tok); code != 503 {
		t.Errorf("lookup failure: %d %s", code, body)
	}
	if f.mutations() != 0 || len(f.restores) != 0 {
		t.Errorf("refused tokens changed state: %d mutations, %d restores", f.mutations(), len(f.restores))
	}
}

func TestJWTOptionsValidate(t *testing.T) {
	for name, o := range map[string]*httpapi.JWTOptions{
		"short secret": {Secret: []byte("short"), Admins: []string{"a"}},
		"nobody admin": {Secret: jwtSecret},
		"neg leeway":   {Secret: jwtSecret, Admins: []string{"a"}, Leeway: -time.Second},
	} {
		if _, err := httpapi.New(newFake(), httpapi.Options{Token: testToken, JWT: o}); !errors.Is(err, httpapi.ErrInvalidOptions) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The embedding application's Auth replaces the token and JWT checks.
	appAuth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "app says no", http.StatusForbidden) })
	}
	srv := MustServer(t, newFake(), httpapi.Options{Auth: appAuth, JWT: &httpapi.JWTOptions{}})
	tok := mustToken(t, accessClaims("u-root"), nil, nil)
	if code, _, _ := MustDo(t, srv, "GET", "/v1/jobs", "", "Authorization", "Bearer "+tok); code != 403 {
		t.Errorf("Auth with JWT options: %d", code)
	}
}
