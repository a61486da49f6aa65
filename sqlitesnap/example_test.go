package sqlitesnap_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/sqlitesnap"
)

// Snapshot a WAL database that a writer keeps open, then restore the
// snapshot over another file.
func ExampleSnapshot() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sqlitesnap-example-*")
	defer os.RemoveAll(dir)

	src := filepath.Join(dir, "auth.db")
	app, _ := sqlite.OpenConn(src, sqlite.OpenReadWrite|sqlite.OpenCreate)
	defer app.Close()
	sqlitex.ExecuteTransient(app, "PRAGMA journal_mode=wal", nil)
	sqlitex.ExecuteScript(app, `CREATE TABLE users(name TEXT);
INSERT INTO users VALUES ('ada'), ('grace');`, nil)

	res, err := sqlitesnap.Snapshot(ctx, src, filepath.Join(dir, "auth-snapshot.db"), sqlitesnap.Options{StagingDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("check:", res.Check)
	fmt.Println("source journal mode:", res.JournalMode)
	fmt.Println("sha256 digits:", len(res.SHA256))

	restored := filepath.Join(dir, "restored.db")
	if _, err := sqlitesnap.Restore(ctx, res.Dest, restored, sqlitesnap.RestoreOptions{StagingDir: dir}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored check:", sqlitesnap.Check(ctx, restored, sqlitesnap.IntegrityCheck))
	// Output:
	// check: ok
	// source journal mode: wal
	// sha256 digits: 64
	// restored check: <nil>
}
