package restore

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/dockpack/dockpack/sqlitesnap"
)

// replace stops the containers, keeps the live database beside itself,
// replaces it with the pack's and starts the containers again (in every
// case). The error is a *LiveError; res is filled as far as it got.
func (l *liveRestorer) replace(ctx context.Context, res *LiveResult) error {
	s := l.s
	ids, names := make([]string, len(res.Stop)), make([]string, len(res.Stop))
	for i, c := range res.Stop {
		ids[i], names[i] = c.ID, c.Name
	}
	restart, err := s.Engine.StopContainers(ctx, ids, s.StopTimeout)
	if err != nil {
		// StopContainers started the ones it had stopped again.
		l.restarted(res, restart())
		return l.refuse(ctx, "restore_stop_services_failed", true, err, "liverestore.stop_failed", strings.Join(names, ", "), err)
	}
	err = l.swap(ctx, res, strings.Join(names, ", "))
	l.restarted(res, restart())
	return err
}

// restarted records whether the stopped containers run again.
func (l *liveRestorer) restarted(res *LiveResult, err error) {
	res.Restarted = err == nil
	if l.s.Restarted != nil {
		l.s.Restarted(err)
	}
}

// swap keeps the live database and replaces it (the containers are stopped).
func (l *liveRestorer) swap(ctx context.Context, res *LiveResult, names string) error {
	s := l.s
	kept, ok, err := sqlitesnap.KeepBeforeRestore(ctx, s.Live, s.Now(), sqlitesnap.Options{StagingDir: s.StagingDir, Logger: s.Logger, Owner: s.Owner})
	switch {
	case err != nil:
		return l.refuse(ctx, "restore_keep_live_auth_db_failed", true, err, "liverestore.keep_failed", s.Live, err)
	case !ok:
		return l.refuse(ctx, "restore_live_auth_db_not_found:"+s.Live, true, nil, "liverestore.live_missing", s.Live)
	}
	res.Kept, res.KeptSHA256 = kept.Dest, kept.SHA256
	// Read through the pin (a store pack's database assembled in staging first).
	open, cleanup, err := l.pd.StageFile(ctx, l.m, l.fe, s.StagingDir)
	var out sqlitesnap.Result
	if err == nil {
		defer cleanup()
		out, err = sqlitesnap.Restore(ctx, res.DB, s.Live, sqlitesnap.RestoreOptions{
			Open: open, StagingDir: s.StagingDir, ExpectSHA256: res.DBSHA256, Logger: s.Logger, Owner: s.Owner})
	}
	if err != nil {
		// The live database is unchanged: the kept copy is not needed.
		if rerr := os.Remove(kept.Dest); rerr == nil {
			res.Kept, res.KeptSHA256 = "", ""
		}
		switch {
		case errors.Is(err, sqlitesnap.ErrInUse):
			if names == "" {
				names = "-"
			}
			return l.refuse(ctx, "restore_live_auth_db_in_use", true, err, "liverestore.in_use", s.Live, names, err)
		case errors.Is(err, sqlitesnap.ErrCorrupt), errors.Is(err, sqlitesnap.ErrNotDatabase):
			return l.refuse(ctx, "restore_pack_verification_failed", false, err, "liverestore.db_corrupt", res.DB, err)
		}
		return l.refuse(ctx, "restore_live_auth_db_copy_failed", true, err, "liverestore.copy_failed", s.Live, err)
	}
	res.SHA256 = out.SHA256
	return nil
}
