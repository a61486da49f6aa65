package statedb

import (
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Tx is a connection inside one of DB's transactions; its methods are the
// job system's statements.
type Tx struct{ conn *sqlite.Conn }

func (tx *Tx) exec(query string, args ...any) error {
	return sqlitex.Execute(tx.conn, query, &sqlitex.ExecOptions{Args: args})
}

func (tx *Tx) query(q string, row func(stmt *sqlite.Stmt) error, args ...any) error {
	return sqlitex.Execute(tx.conn, q, &sqlitex.ExecOptions{Args: args, ResultFunc: row})
}

// changed reports whether the last statement changed a row.
func (tx *Tx) changed() bool { return tx.conn.Changes() > 0 }

// Nullable helpers: zombiezen binds a nil interface as NULL, but a typed nil
// pointer would be printed; convert explicitly.
func nstr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func nint(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func colStr(stmt *sqlite.Stmt, name string) *string {
	if i := stmt.ColumnIndex(name); i < 0 || stmt.ColumnIsNull(i) {
		return nil
	}
	s := stmt.GetText(name)
	return &s
}

func colInt(stmt *sqlite.Stmt, name string) *int64 {
	if i := stmt.ColumnIndex(name); i < 0 || stmt.ColumnIsNull(i) {
		return nil
	}
	v := stmt.GetInt64(name)
	return &v
}
