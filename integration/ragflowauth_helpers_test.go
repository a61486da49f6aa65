//go:build integration

package integration_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/httpapi/adminsql"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// Helpers of the tests that run RagFlowAuth's data-security page (branch
// 13485_latest) against `dockpack serve`: its database shaped like
// RagFlowAuth's, its login tokens, its requests, and the application
// process that holds the live database.

// raSecret is the shared JWT signing key (RagFlowAuth's JWT_SECRET_KEY).
const raSecret = "ragflowauth-integration-secret-0123456789"

const raCompat = httpapi.DefaultCompatPrefix

// raSchema is RagFlowAuth's users and login sessions (adminsql.RagFlowSchema)
// with one admin, a sub_admin and a disabled admin, and the table the
// application's writer fills.
const raSchema = adminsql.RagFlowSchema + `
INSERT INTO users VALUES ('u-admin','admin','x','admin',NULL,'active',120,3,0,NULL,NULL,0);
INSERT INTO users VALUES ('u-sub','sub','x','sub_admin',NULL,'active',120,3,0,NULL,NULL,0);
INSERT INTO users VALUES ('u-off','off','x','admin',NULL,'disabled',120,3,0,NULL,NULL,0);
INSERT INTO auth_login_sessions VALUES ('s1','u-admin',NULL,0,0,NULL,NULL,NULL,NULL);
CREATE TABLE events(id INTEGER PRIMARY KEY, at TEXT NOT NULL, note TEXT);
`

// raNewStack is dmNewStack (a volume of volBytes) whose database
// (auth_db_path) is shaped like RagFlowAuth's.
func raNewStack(t *testing.T, volBytes int) *dmStack {
	t.Helper()
	s := dmNewStack(t, volBytes)
	for _, f := range []string{s.db, s.db + "-wal", s.db + "-shm"} {
		os.Remove(f)
	}
	conn, err := sqlite.OpenConn(s.db, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, raSchema, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// raJWTArgs make a daemon accept RagFlowAuth's tokens of its admins.
var raJWTArgs = []string{"--jwt-admin-query", "ragflowauth"}
var raJWTEnv = []string{"DOCKPACK_JWT_SECRET=" + raSecret}

// raClaims are an access token's claims as RagFlowAuth's AuthX writes them
// (float times, sid, fresh, scopes).
func raClaims(sub string) jwt.MapClaims {
	now := float64(time.Now().UnixNano()) / 1e9
	return jwt.MapClaims{"sub": sub, "type": "access", "jti": dockertest.Unique("jti"), "iat": now, "exp": now + 900,
		"fresh": false, "scopes": []any{}, "sid": "s1", "csrf": ""}
}

// raToken signs claims with method and key (HS256 with raSecret when method is nil).
func raToken(t testing.TB, claims jwt.MapClaims, method jwt.SigningMethod, key any) string {
	t.Helper()
	if method == nil {
		method, key = jwt.SigningMethodHS256, []byte(raSecret)
	}
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// raPage sends requests as RagFlowAuth's page does: JSON content type on
// every request (GETs included) and its login token.
type raPage struct {
	t     *testing.T
	d     *dmDaemon
	token string
	mu    sync.Mutex
	sent  []string // "METHOD path → status", for the test's log
}

// call sends one request and returns the status and the JSON answer.
func (p *raPage) call(method, path, body string) (int, map[string]any) {
	p.t.Helper()
	code, b := p.raw(method, path, body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatalf("%s %s: %d, not a JSON object: %s", method, path, code, b)
	}
	return code, m
}

func (p *raPage) raw(method, path, body string) (int, []byte) {
	p.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.d.url+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.d.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p.mu.Lock()
	p.sent = append(p.sent, fmt.Sprintf("%s %s → %d", method, strings.TrimPrefix(path, raCompat), resp.StatusCode))
	p.mu.Unlock()
	return resp.StatusCode, b
}

// raWriter runs the application that holds the live database, outside the
// compose project: a container of the test app keeping the database open
// and inserting a row every 100 ms (none while <dir>/pause exists). Its
// label selects it in restore_stop_services.
func raWriter(t *testing.T, s *dmStack) (id, selector string) {
	t.Helper()
	role := "backend-" + s.project
	id = dockertest.MustContainer(t, s.cli, dockertest.ContainerSpec{
		Name: s.project + "-authsvc", Image: s.image, Cmd: []string{"sqlite", "/data/auth.db", "/data/pause"},
		Labels: map[string]string{"ragflowauth.role": role}, Start: true,
		Mounts: []dockertest.Mount{{Type: "bind", Source: filepath.Dir(s.db), Target: "/data"}},
	})
	dmWait(t, 30*time.Second, "the application writing", func() bool { return raCount(t, s.db, "events") >= 3 })
	return id, "label:ragflowauth.role=" + role
}

// raPause stops (or resumes) the application's writes; it keeps the database open.
func raPause(t *testing.T, s *dmStack, pause bool) {
	t.Helper()
	p := filepath.Join(filepath.Dir(s.db), "pause")
	if !pause {
		os.Remove(p)
		return
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a tick in flight lands
}

// raCount counts a table's rows (0 when it cannot be read).
func raCount(t *testing.T, db, table string) int {
	t.Helper()
	conn, err := sqlite.OpenConn(db, sqlite.OpenReadOnly)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetBusyTimeout(5 * time.Second)
	n := 0
	_ = sqlitex.Execute(conn, `SELECT count(*) FROM `+table, &sqlitex.ExecOptions{ResultFunc: func(st *sqlite.Stmt) error {
		n = st.ColumnInt(0)
		return nil
	}})
	return n
}

// raDump is the logical content of a database: every table's rows in rowid
// order, as text, and its sha256. A file in a pack is dumped from a copy
// (opening it could leave a journal beside it).
func raDump(t *testing.T, db string, copyFirst bool) (string, string) {
	t.Helper()
	if copyFirst {
		db = raCopy(t, db)
	}
	conn, err := sqlite.OpenConn(db, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetBusyTimeout(5 * time.Second)
	var tables []string
	if err := sqlitex.Execute(conn, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
		&sqlitex.ExecOptions{ResultFunc: func(st *sqlite.Stmt) error { tables = append(tables, st.ColumnText(0)); return nil }}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tbl := range tables {
		fmt.Fprintf(&b, "table %s\n", tbl)
		if err := sqlitex.Execute(conn, fmt.Sprintf(`SELECT * FROM %q ORDER BY rowid`, tbl), &sqlitex.ExecOptions{ResultFunc: func(st *sqlite.Stmt) error {
			for i := range st.ColumnCount() {
				fmt.Fprintf(&b, "%d:%q|", st.ColumnType(i), st.ColumnText(i))
			}
			b.WriteByte('\n')
			return nil
		}}); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return b.String(), hex.EncodeToString(sum[:])
}

// raCopy copies a database file (alone) into a temp dir.
func raCopy(t *testing.T, db string) string {
	t.Helper()
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// raStartedAt is when a container was last started (a restart changes it).
func raStartedAt(t *testing.T, s *dmStack, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ct, err := s.cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return ct.State.StartedAt
}
