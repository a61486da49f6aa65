package precheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/bounded"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// dbFacts is what the sqlite check reads of a database file.
type dbFacts struct {
	fi      os.FileInfo
	walSize int64
	// Read only when looking deep:
	header    []byte
	dirWrite  error // write access to the database's directory
	shmWrite  error // write access to an existing -shm file
	shmExists bool
}

// readDBFacts stats p and its WAL; deep also reads its header and the
// write access a WAL reader needs.
func readDBFacts(p string, deep bool) (dbFacts, error) {
	var f dbFacts
	fi, err := os.Stat(p)
	if err != nil {
		return f, err
	}
	f.fi = fi
	if !fi.Mode().IsRegular() {
		return f, nil
	}
	if wal, err := os.Stat(p + "-wal"); err == nil {
		f.walSize = wal.Size()
	}
	if !deep {
		return f, nil
	}
	fh, err := os.Open(p)
	if err != nil {
		return f, err
	}
	defer fh.Close()
	f.header = make([]byte, 100)
	n, err := io.ReadFull(fh, f.header)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return f, err
	}
	f.header = f.header[:n]
	f.dirWrite = unix.Access(filepath.Dir(p), unix.W_OK)
	if _, err := os.Stat(p + "-shm"); err == nil {
		f.shmExists = true
		f.shmWrite = unix.Access(p+"-shm", unix.W_OK)
	}
	return f, nil
}

// SQLite checks the application's database: a regular file (its size and
// its WAL's go into the estimate); looking deep, also a SQLite header and,
// in WAL mode, the write access a reader needs for the -shm file.
func (c *Checker) SQLite(ctx context.Context) Result {
	b := c.begin(NameSQLite)
	p := c.o.SQLitePath
	switch {
	case p == "":
		b.Skip("precheck.sqlite.skip")
		return b.Result()
	case !c.o.has(pack.ComponentDB):
		b.Skip("precheck.sqlite.not_selected")
		return b.Result()
	}
	b.Evidence("path", p)
	f, err := bounded.Call(ctx, c.o.CallTimeout, "reading the database "+p, func() (dbFacts, error) { return readDBFacts(p, c.o.Deep) })
	unreadable, fix := c.p.T("precheck.sqlite.unreadable", p), c.p.T("precheck.sqlite.unreadable.fix")
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		b.Fail(err, "timeout", unreadable, fix)
		return b.Result()
	case err != nil:
		b.Fail(fmt.Errorf("%w: SQLite database %s: %v; check --sqlite (it is read from where dockpack runs)", sqlitesnap.ErrNotFound, p, err),
			"sqlite_not_found", unreadable, fix)
		return b.Result()
	case !f.fi.Mode().IsRegular():
		b.Fail(fmt.Errorf("%w: SQLite database %s is not a regular file (%s)", sqlitesnap.ErrNotFound, p, f.fi.Mode().Type()),
			"sqlite_not_found", c.p.T("precheck.sqlite.not_file", p), fix)
		return b.Result()
	case c.o.Deep && (len(f.header) < 100 || string(f.header[:16]) != "SQLite format 3\x00"):
		b.Fail(fmt.Errorf("%w: %s has no SQLite header", sqlitesnap.ErrNotDatabase, p),
			"sqlite_corrupt", c.p.T("precheck.sqlite.not_db", p), c.p.T("precheck.sqlite.not_db.fix"))
		return b.Result()
	}
	c.Facts.DBSize = f.fi.Size() + f.walSize
	b.Evidence("size", fmt.Sprintf("%s (+ WAL %s)", Bytes(f.fi.Size()), Bytes(f.walSize)))
	if !c.o.Deep {
		b.Evidence("modified", When(f.fi.ModTime()))
		b.OK("precheck.sqlite.size", p, Bytes(c.Facts.DBSize))
		return b.Result()
	}
	wal := f.header[18] == 2 && f.header[19] == 2
	mode := "rollback journal"
	if wal {
		mode = "WAL"
	}
	b.Evidence("journal_mode", mode)
	b.Evidence("modified", When(f.fi.ModTime()))
	b.OK("precheck.sqlite.ok", p, Bytes(c.Facts.DBSize), mode)
	why := f.dirWrite
	if why == nil && f.shmExists {
		why = f.shmWrite
	}
	if wal && why != nil {
		b.Evidence("dir_writable", "false: "+why.Error())
		b.Fail(fmt.Errorf("the WAL database %s needs write access to its directory (for its -shm file): %w", p, why),
			"sqlite_wal_readonly", c.p.T("precheck.sqlite.wal_readonly", filepath.Dir(p)), c.p.T("precheck.sqlite.wal_readonly.fix"))
	}
	return b.Result()
}
