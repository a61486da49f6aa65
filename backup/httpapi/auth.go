package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// MinTokenLength is the shortest bearer token New accepts.
const MinTokenLength = 16

// bearerAuth lets a request through only with "Authorization: Bearer
// <token>". Both sides are hashed before the constant-time compare, so
// neither the token's content nor its length leaks through timing. The
// token is never logged.
func (h *handler) bearerAuth(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearerToken(r.Header.Get("Authorization"))
		gotSum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 || !ok {
			detail := "this route needs the header Authorization: Bearer <token> (the token file is named in the daemon's log)"
			if ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dockpack", error="invalid_token"`)
				detail = "the bearer token is not the daemon's token"
			}
			h.fail(w, r, reqErr(http.StatusUnauthorized, CodeUnauthorized, detail))
			return
		}
		next.ServeHTTP(w, r)
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
