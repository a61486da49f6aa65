package restore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// A database the restore replaces is kept beside it first, as a
// consistent snapshot including what its WAL holds; a refused restore
// keeps nothing.
func TestRestoreKeepsTheReplacedDatabase(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	dest := backuptest.MustSQLite(t, t.TempDir(), "app.db", "zed")
	spec := restore.Spec{Components: []pack.Component{pack.ComponentDB}, SQLiteDest: dest, StagingDir: t.TempDir(), Force: true}

	// In use (a WAL connection open with a row only in its WAL): refused, nothing kept.
	conn, err := sqlite.OpenConn(dest, sqlite.OpenReadWrite|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(conn, `PRAGMA wal_autocheckpoint = 0`, nil); err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(conn, `INSERT INTO users(name) VALUES ('in-wal')`, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(context.Background(), p.Dir, spec); !errors.Is(err, sqlitesnap.ErrInUse) {
		t.Fatalf("in use: %v", err)
	}
	if m, _ := filepath.Glob(dest + sqlitesnap.BeforeRestoreSuffix + "*"); len(m) != 0 {
		t.Errorf("a refused restore kept %v", m)
	}
	// What an application killed now leaves: the database and a WAL holding
	// the last row (copied while the connection is open), nobody using them.
	crashed := filepath.Join(t.TempDir(), "app.db")
	for _, sfx := range []string{"", "-wal"} {
		b, err := os.ReadFile(dest + sfx)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+sfx, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	dest, spec.SQLiteDest = crashed, crashed

	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.SQLiteKept, dest+sqlitesnap.BeforeRestoreSuffix) {
		t.Fatalf("kept %q", res.SQLiteKept)
	}
	rows := func(db string) string {
		c, err := sqlite.OpenConn(db, sqlite.OpenReadOnly)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var names []string
		_ = sqlitex.Execute(c, `SELECT name FROM users ORDER BY id`, &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
			names = append(names, s.ColumnText(0))
			return nil
		}})
		return strings.Join(names, ",")
	}
	if got := rows(res.SQLiteKept); got != "zed,in-wal" {
		t.Errorf("kept copy holds %q, want the replaced database with its WAL content", got)
	}
	if got := rows(dest); got != "ada,grace" {
		t.Errorf("restored database holds %q", got)
	}
}
