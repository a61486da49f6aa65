package sqlitesnap

import (
	"context"
	"errors"
	"os"
	"time"
)

// BeforeRestoreSuffix starts the name of the copy KeepBeforeRestore keeps
// beside a database: <db>.before-restore-<UTC time>.
const BeforeRestoreSuffix = ".before-restore-"

// beforeRestoreLayout is the time in a kept copy's name (UTC, milliseconds).
const beforeRestoreLayout = "20060102T150405.000Z"

// BeforeRestorePath is where KeepBeforeRestore keeps db as it was at at.
func BeforeRestorePath(db string, at time.Time) string {
	return db + BeforeRestoreSuffix + at.UTC().Format(beforeRestoreLayout)
}

// KeepBeforeRestore keeps the database at db beside it, as
// BeforeRestorePath(db, at), before a restore replaces it: a consistent
// Snapshot of the live database (the content of its WAL included, one
// self-contained file), not a copy of its main file. The restore can then
// be undone by restoring that file. A db that does not exist is nothing to
// keep: ok is false and err nil.
func KeepBeforeRestore(ctx context.Context, db string, at time.Time, o Options) (res Result, ok bool, err error) {
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
		return Result{}, false, nil
	}
	res, err = Snapshot(ctx, db, BeforeRestorePath(db, at), o)
	return res, err == nil, err
}
