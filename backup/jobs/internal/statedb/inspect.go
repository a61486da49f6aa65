package statedb

import "zombiezen.com/go/sqlite"

// Facts are what tests and doctor may want to know about the database
// itself: its schema version, journal mode and tables.
type Facts struct {
	UserVersion int
	JournalMode string
	Tables      []string
}

// Facts reads the database's schema facts.
func (tx *Tx) Facts() (Facts, error) {
	var f Facts
	v, err := userVersion(tx.conn)
	if err != nil {
		return f, err
	}
	f.UserVersion = v
	if err := tx.query(`PRAGMA journal_mode`, func(stmt *sqlite.Stmt) error { f.JournalMode = stmt.ColumnText(0); return nil }); err != nil {
		return f, err
	}
	err = tx.query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`, func(stmt *sqlite.Stmt) error {
		f.Tables = append(f.Tables, stmt.ColumnText(0))
		return nil
	})
	return f, err
}
