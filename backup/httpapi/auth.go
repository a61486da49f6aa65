package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// MinTokenLength is the shortest bearer token New accepts.
const MinTokenLength = 16

// authMiddleware is what every route but /healthz and the public ones
// passes: the embedding application's Options.Auth when set; else the
// daemon's bearer token, or — with Options.JWT — an application's access
// token of an administrator.
func (h *handler) authMiddleware() func(http.Handler) http.Handler {
	if h.opts.Auth != nil {
		return h.opts.Auth
	}
	return func(next http.Handler) http.Handler { return h.bearerAuth(h.opts.Token, next) }
}

// bearerAuth lets a request through only with "Authorization: Bearer
// <token>": the daemon's token, or (Options.JWT) a verified access token
// whose subject is an administrator. The daemon's token is hashed on both
// sides before the constant-time compare, so neither its content nor its
// length leaks through timing. Tokens are never logged.
func (h *handler) bearerAuth(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearerToken(r.Header.Get("Authorization"))
		gotSum := sha256.Sum256([]byte(got))
		if ok && subtle.ConstantTimeCompare(gotSum[:], want[:]) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if ok && h.jwt != nil && looksLikeJWT(got) {
			h.jwt.serve(w, r, got, next)
			return
		}
		detail := "this route needs the header Authorization: Bearer <token> (the token file is named in the daemon's log)"
		if ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dockpack", error="invalid_token"`)
			detail = "the bearer token is not the daemon's token"
			if h.jwt != nil {
				detail += " nor an application access token"
			}
		}
		h.fail(w, r, reqErr(http.StatusUnauthorized, CodeUnauthorized, detail))
	})
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header (scheme case-insensitive).
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// looksLikeJWT reports whether tok has a JWS compact serialization's shape.
func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 }
