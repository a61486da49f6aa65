package adminsql_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup/httpapi/adminsql"
)

// ragflowUsers are fixture rows of RagFlowAuth's tables (adminsql.RagFlowSchema).
const ragflowUsers = `
INSERT INTO users VALUES ('u-admin','admin','x','admin',NULL,'active',120,3,0,NULL,NULL,0);
INSERT INTO users VALUES ('u-sub','sub','x','sub_admin',NULL,'active',120,3,0,NULL,NULL,0);
INSERT INTO users VALUES ('u-off','off','x','admin',NULL,'disabled',120,3,0,NULL,NULL,0);
INSERT INTO users VALUES ('u-locked','locked','x','admin',NULL,'active',120,3,0,NULL,9999999999999,0);
INSERT INTO users VALUES ('u-banned','banned','x','admin',NULL,'active',120,3,1,NULL,NULL,0);
INSERT INTO users VALUES ('u-viewer','viewer','x','viewer',NULL,'active',120,3,0,NULL,NULL,0);
INSERT INTO auth_login_sessions VALUES ('s1','u-admin',NULL,0,0,NULL,NULL,NULL,NULL);
INSERT INTO auth_login_sessions VALUES ('s2','u-admin',NULL,0,0,NULL,NULL,5,'logout');
`

// mustRagflowDB writes a WAL database shaped like RagFlowAuth's.
func mustRagflowDB(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.db")
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, adminsql.RagFlowSchema+ragflowUsers, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestRagFlowAuthRule(t *testing.T) {
	db := mustRagflowDB(t)
	before := mustSum(t, db)
	ctx := context.Background()
	cases := []struct {
		query string
		sub   adminsql.Subject
		want  bool
	}{
		{"", adminsql.Subject{ID: "u-admin"}, true},
		{"", adminsql.Subject{ID: "u-sub"}, false},
		{"", adminsql.Subject{ID: "u-off"}, false},
		{"", adminsql.Subject{ID: "u-locked"}, false},
		{"", adminsql.Subject{ID: "u-banned"}, false},
		{"", adminsql.Subject{ID: "u-viewer"}, false},
		{"", adminsql.Subject{ID: "nobody"}, false},
		{"", adminsql.Subject{ID: "u-admin' OR '1'='1"}, false},
		{adminsql.RagFlowSessionQuery, adminsql.Subject{ID: "u-admin", SessionID: "s1"}, true},
		{adminsql.RagFlowSessionQuery, adminsql.Subject{ID: "u-admin", SessionID: "s2"}, false}, // logged out
		{adminsql.RagFlowSessionQuery, adminsql.Subject{ID: "u-admin"}, false},
		{"SELECT role = 'admin' FROM users WHERE user_id = ?", adminsql.Subject{ID: "u-admin"}, true},
		{"SELECT role = 'admin' FROM users WHERE user_id = ?1", adminsql.Subject{ID: "u-sub"}, false},
		{"WITH a AS (SELECT user_id FROM users WHERE role = 'admin') SELECT count(*) FROM a WHERE user_id = $sub;", adminsql.Subject{ID: "u-off"}, true},
	}
	for _, c := range cases {
		l, err := adminsql.New(adminsql.Options{DB: db, Query: c.query, CacheTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.IsAdmin(ctx, c.sub)
		if err != nil || got != c.want {
			t.Errorf("%q with %q: %v %v, want %v", c.query, c.sub, got, err, c.want)
		}
	}
	if after := mustSum(t, db); after != before {
		t.Error("the lookups changed the database")
	}
}

func TestQueriesThatAreNotOneSelect(t *testing.T) {
	for _, q := range []string{"DELETE FROM users", "SELECT 1; DELETE FROM users", "PRAGMA writable_schema = ON", "UPDATE users SET role = 'admin'"} {
		if _, err := adminsql.New(adminsql.Options{DB: "/x.db", Query: q}); !errors.Is(err, adminsql.ErrInvalid) {
			t.Errorf("%q: %v", q, err)
		}
	}
	if _, err := adminsql.New(adminsql.Options{}); !errors.Is(err, adminsql.ErrInvalid) {
		t.Errorf("no database: %v", err)
	}
	// A SELECT that tries to write through a function still cannot: the connection is read-only.
	db := mustRagflowDB(t)
	l, _ := adminsql.New(adminsql.Options{DB: db, Query: "SELECT 1 FROM users WHERE user_id = :sub AND :bogus = 1"})
	if _, err := l.IsAdmin(context.Background(), adminsql.Subject{ID: "u-admin"}); err == nil {
		t.Error("an unknown parameter was accepted")
	}
}

func TestCacheAndStaleAnswers(t *testing.T) {
	db := mustRagflowDB(t)
	now := time.Unix(1_800_000_000, 0)
	l, err := adminsql.New(adminsql.Options{DB: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin := adminsql.Subject{ID: "u-admin"}
	if ok, err := l.IsAdmin(ctx, admin); !ok || err != nil {
		t.Fatalf("admin: %v %v", ok, err)
	}
	conn, err := sqlite.OpenConn(db, sqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(conn, `UPDATE users SET role = 'viewer' WHERE user_id = 'u-admin'`, nil); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if ok, _ := l.IsAdmin(ctx, admin); !ok {
		t.Error("the cached answer was not used")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.IsAdmin(ctx, admin); ok {
		t.Error("a demoted admin is still an admin after the cache time")
	}
	// The database disappears (a real restore replacing it): the last answer stands in for a while.
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		os.Remove(f)
	}
	now = now.Add(time.Minute)
	if ok, err := l.IsAdmin(ctx, admin); ok || err != nil {
		t.Errorf("stale answer: %v %v", ok, err)
	}
	now = now.Add(time.Hour)
	if _, err := l.IsAdmin(ctx, admin); err == nil {
		t.Error("an hour-old answer was used while the database is missing")
	}
}
