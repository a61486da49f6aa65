package sqlitesnap

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"

	"zombiezen.com/go/sqlite"
)

// inspect checks the database at path and fills res's page, version and
// journal-mode fields.
func inspect(ctx context.Context, path string, mode CheckMode, res *Result) error {
	c, err := openReadOnly(path)
	if err != nil {
		return classify(ctx, err, "open", path)
	}
	defer c.Close()
	c.SetInterrupt(ctx.Done())
	if err := runCheck(ctx, c, path, mode); err != nil {
		return err
	}
	if err := exec(c, "BEGIN"); err != nil {
		return classify(ctx, err, "read", path)
	}
	defer exec(c, "ROLLBACK")
	if err := readSourceInfo(ctx, c, path, res); err != nil {
		return err
	}
	// The header is the truth for a file nobody has open: bytes 18/19 = 2
	// mean WAL.
	if _, _, jm, err := headerInfo(path); err == nil {
		res.JournalMode = jm
	}
	return nil
}

// headerInfo reads the database header of a closed file: the page size,
// the page count implied by the file size, and the journal mode its
// file-format bytes 18/19 say (2: "wal", else "delete").
func headerInfo(path string) (pageSize, pages int64, journal string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, "", err
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return 0, 0, "", err
	}
	pageSize = int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if st, serr := f.Stat(); serr == nil && pageSize > 0 {
		pages = st.Size() / pageSize
	}
	journal = "delete"
	if h[18] == 2 {
		journal = "wal"
	}
	return pageSize, pages, journal, nil
}

// readSourceInfo fills the version, page size and journal mode, reading
// (never setting) the source's pragmas inside the open read transaction.
func readSourceInfo(ctx context.Context, sc *sqlite.Conn, src string, res *Result) error {
	v, err := queryText(sc, "SELECT sqlite_version()")
	if err != nil || len(v) != 1 {
		return classify(ctx, errOr(err, "no version row"), "query sqlite_version() on", src)
	}
	res.SQLiteVersion = v[0]
	if res.PageSize, err = queryInt(sc, "PRAGMA page_size"); err != nil {
		return classify(ctx, err, "query page_size of", src)
	}
	// The size of what the read transaction sees: the snapshot's size.
	if res.PageCount, err = queryInt(sc, "PRAGMA page_count"); err != nil {
		return classify(ctx, err, "query page_count of", src)
	}
	jm, err := queryText(sc, "PRAGMA journal_mode")
	if err != nil || len(jm) != 1 {
		return classify(ctx, errOr(err, "no journal_mode row"), "query journal_mode of", src)
	}
	res.JournalMode = jm[0]
	return nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
