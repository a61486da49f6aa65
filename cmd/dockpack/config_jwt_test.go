package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/httpapi/adminsql"
	"go.uber.org/zap"
)

func TestServeConfigJWT(t *testing.T) {
	c, err := mustServeConfig(t, []string{"--jwt-admins", "u-1,u-2", "--jwt-admin-query", "ragflowauth", "--jwt-leeway", "10s"},
		map[string]string{"DOCKPACK_JWT_SECRET": "s3cret-s3cret-s3cret-s3cret"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !c.JWT.enabled() || strings.Join(c.JWT.Admins, ",") != "u-1,u-2" || c.JWT.query() != adminsql.RagFlowQuery || time.Duration(c.JWT.Leeway) != 10*time.Second {
		t.Errorf("jwt config %+v", c.JWT)
	}
	var out bytes.Buffer
	if err := c.print(&out); err != nil || strings.Contains(out.String(), "s3cret") || !strings.Contains(out.String(), "<redacted>") {
		t.Errorf("print-config shows the JWT secret or no redaction:\n%s", out.String())
	}
	o, err := c.JWT.options(zap.NewNop(), nil)
	if err != nil || string(o.Secret) != "s3cret-s3cret-s3cret-s3cret" || o.IsAdmin == nil || len(o.Admins) != 2 {
		t.Errorf("handler options %+v %v", o, err)
	}
	yml := "jwt:\n  secret_file: /run/secrets/jwt\n  admins: [u-9]\n  admin_db: /app/data/auth.db\n"
	if c, err := mustServeConfig(t, nil, nil, yml); err != nil || c.JWT.SecretFile != "/run/secrets/jwt" || c.JWT.AdminDB != "/app/data/auth.db" {
		t.Errorf("yaml: %+v %v", c, err)
	}
	if c, err := mustServeConfig(t, nil, nil, ""); err != nil || c.JWT.enabled() {
		t.Errorf("default: JWT enabled %v %v", c.JWT.enabled(), err)
	}
}

func TestServeConfigJWTInvalid(t *testing.T) {
	secret := map[string]string{"DOCKPACK_JWT_SECRET": "s3cret-s3cret-s3cret-s3cret"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"nobody admin", nil, secret, "nobody would be an administrator"},
		{"admins without secret", []string{"--jwt-admins", "u-1"}, nil, "without the shared secret"},
		{"two secrets", []string{"--jwt-secret-file", "/x", "--jwt-admins", "u-1"}, secret, "not both"},
		{"writing query", []string{"--jwt-admin-query", "DELETE FROM users"}, secret, "SELECT"},
		{"relative db", []string{"--jwt-admin-query", "ragflowauth", "--jwt-admin-db", "data/auth.db"}, secret, "absolute"},
	}
	for _, c := range cases {
		if _, err := mustServeConfig(t, c.args, c.env, ""); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
