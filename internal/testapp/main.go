// Command testapp is the tiny static program inside the images that dockpack's
// tests and demo build locally (the engine has no registry to pull from). It
// is built with CGO_ENABLED=0 and imported into the engine as an image whose
// entrypoint is /testapp.
//
//	testapp sleep                 wait for SIGTERM/SIGINT, exit 0
//	testapp seed DIR [DIR...]     write a few files into each DIR once, then sleep
//	testapp seedonce DIR [DIR...] write them and exit 0
//	testapp writer FILE           append a line to FILE every 10 ms until stopped
//	testapp sqlite DB [PAUSE]     create DB (WAL), keep it open and insert a row into its table
//	                              events every 100 ms (none while the file PAUSE exists)
//	testapp true                  exit 0
//
// db.go adds a small database (db, db-dump, db-load, db-check, db-pause,
// db-resume) and hooks.go the commands hooks run (say, note, fail, hang).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	mode := "sleep"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	args := os.Args[2:]
	var err error
	switch mode {
	case "sleep":
		<-ctx.Done()
	case "true":
	case "seed":
		err = seed(args)
		if err == nil {
			<-ctx.Done()
		}
	case "seedonce":
		err = seed(args)
	case "writer":
		err = writer(ctx, args)
	case "sqlite":
		err = sqliteWriter(ctx, args)
	default:
		err = otherMode(ctx, mode, args) // db.go, hooks.go
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(exitCode(err))
	}
}

func seed(dirs []string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(d, "hello.txt")); err == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "hello.txt"), []byte("hello from "+d+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "sub", "data.bin"), make([]byte, 64<<10), 0o600); err != nil {
			return err
		}
		_ = os.Symlink("hello.txt", filepath.Join(d, "link"))
	}
	return nil
}

func writer(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("writer FILE")
	}
	f, err := os.OpenFile(args[0], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := fmt.Fprintf(f, "line %d %s\n", i, time.Now().Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
	}
}

func sqliteWriter(ctx context.Context, args []string) error {
	if len(args) != 1 && len(args) != 2 {
		return fmt.Errorf("sqlite DB [PAUSE]")
	}
	paused := func() bool {
		if len(args) < 2 {
			return false
		}
		_, err := os.Stat(args[1])
		return err == nil
	}
	conn, err := sqlite.OpenConn(args[0], sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetBusyTimeout(10 * time.Second)
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, at TEXT NOT NULL, note TEXT);`, nil); err != nil {
		return err
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if paused() {
				continue
			}
			if err := sqlitex.Execute(conn, `INSERT INTO events(at, note) VALUES (?, 'tick')`,
				&sqlitex.ExecOptions{Args: []any{now.UTC().Format(time.RFC3339Nano)}}); err != nil {
				return err
			}
		}
	}
}
