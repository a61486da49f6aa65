package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// JWTOptions make the handler accept the application's own access tokens
// beside the daemon's token, so that an admin page can call dockpack with
// its user's login (RagFlowAuth issues HS256 tokens with claims sub, type,
// exp, sid and cid). A token is authentication only: the application
// decides who is an administrator in its own user database, so a verified
// subject must also be in Admins or pass IsAdmin; anyone else gets 403
// admin_required. The subject becomes the request's Identity (executed_by,
// verified_by, the restore's actor).
type JWTOptions struct {
	// Secret is the HMAC key the application signs with (RagFlowAuth's
	// JWT_SECRET_KEY); at least MinJWTSecretLength bytes. Only HS256 is
	// accepted: never "none", another HMAC size or a public-key algorithm.
	Secret []byte
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s.
	Leeway time.Duration
	// TokenType is the value the "type" claim must have. Default "access"
	// (a refresh token is refused).
	TokenType string
	// Admins lists the subjects (sub, RagFlowAuth's users.user_id) that
	// are administrators.
	Admins []string
	// IsAdmin decides for subjects not in Admins, e.g. by a read-only query
	// of the application's database (see package adminsql). An error
	// answers 503 (the decision could not be made), never 401.
	IsAdmin func(ctx context.Context, c Claims) (bool, error)
}

// MinJWTSecretLength is the shortest JWT secret New accepts.
const MinJWTSecretLength = 16

// Claims are the verified claims of an application access token.
type Claims struct {
	Subject   string `json:"sub"`
	Type      string `json:"type"`
	SessionID string `json:"sid,omitempty"`
	// CompanyID is RagFlowAuth's tenant (cid), as its JSON text ("" when absent).
	CompanyID string `json:"-"`
}

// Codes of the JWT check.
const (
	CodeAdminRequired     = "admin_required"
	CodeAdminLookupFailed = "admin_lookup_failed"
)

// tokenClaims decodes a token: the registered claims (exp may be a
// float: RagFlowAuth's AuthX writes them so) and the application's.
type tokenClaims struct {
	jwt.RegisteredClaims
	Type      string `json:"type"`
	SessionID string `json:"sid"`
	CompanyID any    `json:"cid"`
}

func (o *JWTOptions) applyDefaults() {
	if o.Leeway == 0 {
		o.Leeway = 30 * time.Second
	}
	if o.TokenType == "" {
		o.TokenType = "access"
	}
}

// validate reports what is wrong with the options (after defaults).
func (o *JWTOptions) validate() []error {
	var errs []error
	if len(o.Secret) < MinJWTSecretLength {
		errs = append(errs, fmt.Errorf("the JWT secret has %d bytes; it must be the application's signing key (at least %d bytes)", len(o.Secret), MinJWTSecretLength))
	}
	if o.Leeway < 0 {
		errs = append(errs, fmt.Errorf("JWT leeway %v is negative", o.Leeway))
	}
	if len(o.Admins) == 0 && o.IsAdmin == nil {
		errs = append(errs, errors.New("JWT tokens are accepted but nobody is an administrator: give the admins' subjects (Admins) or an IsAdmin lookup"))
	}
	return errs
}

// jwtAuth verifies application tokens and authorizes their subjects.
type jwtAuth struct {
	h      *handler
	o      JWTOptions
	parser *jwt.Parser
}

func newJWTAuth(h *handler, o JWTOptions) *jwtAuth {
	return &jwtAuth{h: h, o: o, parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithLeeway(o.Leeway), jwt.WithExpirationRequired(), jwt.WithIssuedAt())}
}

// verify checks the token's signature, algorithm, times and type.
func (a *jwtAuth) verify(raw string) (Claims, error) {
	var tc tokenClaims
	if _, err := a.parser.ParseWithClaims(raw, &tc, func(*jwt.Token) (any, error) { return a.o.Secret, nil }); err != nil {
		return Claims{}, err
	}
	c := Claims{Subject: strings.TrimSpace(tc.Subject), Type: tc.Type, SessionID: tc.SessionID}
	if tc.CompanyID != nil {
		c.CompanyID = fmt.Sprint(tc.CompanyID)
	}
	switch {
	case c.Type != a.o.TokenType:
		return c, fmt.Errorf("the token's type is %q, not %q", c.Type, a.o.TokenType)
	case c.Subject == "":
		return c, errors.New("the token names no subject (sub)")
	}
	return c, nil
}

// serve authenticates and authorizes r by its token, then calls next with
// the subject as the request's Identity.
func (a *jwtAuth) serve(w http.ResponseWriter, r *http.Request, raw string, next http.Handler) {
	h := a.h
	c, err := a.verify(raw)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dockpack", error="invalid_token"`)
		h.fail(w, r, reqErr(http.StatusUnauthorized, CodeUnauthorized, "the access token is not valid: "+err.Error()))
		return
	}
	admin := slices.Contains(a.o.Admins, c.Subject)
	if !admin && a.o.IsAdmin != nil {
		if admin, err = a.o.IsAdmin(r.Context(), c); err != nil {
			h.log.Error("cannot decide whether a user is an administrator", zap.String("sub", c.Subject), zap.Error(err))
			h.fail(w, r, reqErr(http.StatusServiceUnavailable, CodeAdminLookupFailed,
				"cannot decide whether you are an administrator (the user database could not be read); try again"))
			return
		}
	}
	if !admin {
		h.log.Info("a valid token of a user who is not an administrator was refused", zap.String("sub", c.Subject),
			zap.String("method", r.Method), zap.String("path", r.URL.Path))
		h.fail(w, r, reqErr(http.StatusForbidden, CodeAdminRequired, "this action can only be performed by an administrator"))
		return
	}
	next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), c.Subject)))
}
