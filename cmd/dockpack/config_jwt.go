package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/httpapi/adminsql"
	"github.com/dockpack/dockpack/backup/jobs"
)

// jwtConfig lets the daemon accept the application's own access tokens
// (RagFlowAuth's login), so that its admin page calls dockpack as the
// logged-in user: the token is verified with the shared secret (HS256), and
// the user must be an administrator by the allow-list or by the admin query
// on the application's database. Without a secret only the daemon's token
// is accepted.
type jwtConfig struct {
	// SecretFile holds the shared signing key (RagFlowAuth's JWT_SECRET_KEY);
	// Secret is the key itself ($DOCKPACK_JWT_SECRET; redacted by --print-config).
	SecretFile string `yaml:"secret_file,omitempty"`
	Secret     string `yaml:"secret,omitempty"`
	// Admins are the subjects (users.user_id) that are administrators.
	Admins stringList `yaml:"admins,flow,omitempty"`
	// AdminQuery decides for the others: "ragflowauth" (role 'admin', account
	// active), "ragflowauth-session" (also a live login session), or a
	// SELECT (see package adminsql). Empty: only Admins.
	AdminQuery string `yaml:"admin_query,omitempty"`
	// AdminDB is the database the query reads. Default: the auth_db_path setting.
	AdminDB string `yaml:"admin_db,omitempty"`
	// Leeway is the clock skew allowed on exp. Default 30s.
	Leeway duration `yaml:"leeway,omitempty"`
}

// enabled reports whether application tokens are accepted.
func (j *jwtConfig) enabled() bool { return j.SecretFile != "" || j.Secret != "" }

// adminQueries are the named admin queries.
var adminQueries = map[string]string{"ragflowauth": adminsql.RagFlowQuery, "ragflowauth-session": adminsql.RagFlowSessionQuery}

// query is the admin query's SQL.
func (j *jwtConfig) query() string {
	if q, ok := adminQueries[strings.ToLower(strings.TrimSpace(j.AdminQuery))]; ok {
		return q
	}
	return j.AdminQuery
}

// validate reports what is wrong with the JWT options.
func (j *jwtConfig) validate() []error {
	if !j.enabled() {
		if len(j.Admins) > 0 || j.AdminQuery != "" || j.AdminDB != "" {
			return []error{errors.New("jwt: admins, admin_query or admin_db given without the shared secret (jwt.secret_file or $DOCKPACK_JWT_SECRET)")}
		}
		return nil
	}
	var errs []error
	if j.SecretFile != "" && j.Secret != "" {
		errs = append(errs, errors.New("jwt: give the secret either in a file (secret_file) or in $DOCKPACK_JWT_SECRET, not both"))
	}
	if len(j.Admins) == 0 && j.AdminQuery == "" {
		errs = append(errs, errors.New("jwt: nobody would be an administrator: give jwt.admins (user ids) and/or jwt.admin_query (e.g. ragflowauth)"))
	}
	if j.AdminQuery != "" {
		if _, err := adminsql.New(adminsql.Options{DB: "-", Query: j.query()}); err != nil {
			errs = append(errs, fmt.Errorf("jwt.admin_query: %w", err))
		}
	}
	if j.AdminDB != "" && !strings.HasPrefix(j.AdminDB, "/") {
		errs = append(errs, fmt.Errorf("jwt.admin_db %q is not an absolute path", j.AdminDB))
	}
	if j.Leeway < 0 || time.Duration(j.Leeway) > 10*time.Minute {
		errs = append(errs, fmt.Errorf("jwt.leeway %s: want 0 (30s) to 10m", j.Leeway))
	}
	return errs
}

// options builds the handler's JWT options (nil when disabled): the secret
// read from its file, the admin lookup on the admin database or the live
// auth_db_path setting.
func (j *jwtConfig) options(log *zap.Logger, mgr *jobs.Manager) (*httpapi.JWTOptions, error) {
	if !j.enabled() {
		return nil, nil
	}
	secret := j.Secret
	if j.SecretFile != "" {
		b, err := os.ReadFile(j.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("read the JWT secret file: %w", err)
		}
		if fi, err := os.Stat(j.SecretFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the JWT secret file is readable by other users; chmod 600 it", zap.String("jwt_secret_file", j.SecretFile))
		}
		secret = string(b)
	}
	o := &httpapi.JWTOptions{Secret: []byte(strings.TrimSpace(secret)), Leeway: time.Duration(j.Leeway), Admins: j.Admins}
	if j.AdminQuery != "" {
		ao := adminsql.Options{DB: j.AdminDB, Query: j.query()}
		if ao.DB == "" {
			ao.DBPath = func(ctx context.Context) (string, error) {
				s, err := mgr.Settings(ctx)
				return s.AuthDBPath, err
			}
		}
		lookup, err := adminsql.New(ao)
		if err != nil {
			return nil, usageError{fmt.Errorf("jwt.admin_query: %w", err)}
		}
		o.IsAdmin = func(ctx context.Context, c httpapi.Claims) (bool, error) {
			return lookup.IsAdmin(ctx, adminsql.Subject{ID: c.Subject, SessionID: c.SessionID, CompanyID: c.CompanyID})
		}
	}
	log.Info("application access tokens accepted (HS256, type access) for administrators",
		zap.Int("admins_listed", len(j.Admins)), zap.Bool("admin_query", j.AdminQuery != ""), zap.String("admin_db", j.AdminDB))
	return o, nil
}
