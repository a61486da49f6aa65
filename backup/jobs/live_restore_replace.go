package jobs

import (
	"context"
	"errors"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// replaceLive stops the containers, keeps the live database beside itself,
// replaces it with the pack's and starts the containers again (in every
// case). The error is a *RestoreError; lr is filled as far as it got.
func (m *Manager) replaceLive(ctx context.Context, lr *LiveRestore, src packDB, stop []dockerapi.Container) error {
	names := strings.Join(lr.StoppedContainers, ", ")
	restart, err := m.cfg.Engine.StopContainers(ctx, containerIDs(stop), liveRestoreStopTimeout)
	if err != nil {
		// StopContainers started the ones it had stopped again.
		m.markLiveRestarted(lr, restart())
		return m.refuse("restore_stop_services_failed", true, err, "liverestore.stop_failed", names, err)
	}
	err = m.swapLive(ctx, lr, src, names)
	m.markLiveRestarted(lr, restart())
	if err == nil && !lr.ServicesRestarted {
		lr.Notes += "; " + m.tr("liverestore.notes.restart_failed", names)
	}
	return err
}

// swapLive keeps the live database and replaces it (the containers are stopped).
func (m *Manager) swapLive(ctx context.Context, lr *LiveRestore, src packDB, names string) error {
	owner := m.id
	kept, ok, err := sqlitesnap.KeepBeforeRestore(ctx, lr.LiveAuthDBPath, m.cfg.Now(),
		sqlitesnap.Options{StagingDir: m.cfg.StagingDir, Logger: m.log, Owner: owner})
	switch {
	case err != nil:
		return m.refuse("restore_keep_live_auth_db_failed", true, err, "liverestore.keep_failed", lr.LiveAuthDBPath, err)
	case !ok:
		return m.refuse("restore_live_auth_db_not_found:"+lr.LiveAuthDBPath, true, nil, "liverestore.live_missing", lr.LiveAuthDBPath)
	}
	lr.BeforeRestorePath, lr.BeforeRestoreHash = kept.Dest, kept.SHA256
	res, err := sqlitesnap.Restore(ctx, src.path, lr.LiveAuthDBPath, sqlitesnap.RestoreOptions{
		StagingDir: m.cfg.StagingDir, ExpectSHA256: src.sha256, Logger: m.log, Owner: owner})
	if err != nil {
		// The live database is unchanged: the kept copy is not needed.
		if rerr := os.Remove(kept.Dest); rerr == nil {
			lr.BeforeRestorePath, lr.BeforeRestoreHash = "", ""
		}
		switch {
		case errors.Is(err, sqlitesnap.ErrInUse):
			if names == "" {
				names = "-"
			}
			return m.refuse("restore_live_auth_db_in_use", true, err, "liverestore.in_use", lr.LiveAuthDBPath, names, err)
		case errors.Is(err, sqlitesnap.ErrCorrupt), errors.Is(err, sqlitesnap.ErrNotDatabase):
			return m.refuse("restore_pack_verification_failed", false, err, "liverestore.db_corrupt", src.path, err)
		}
		return m.refuse("restore_live_auth_db_copy_failed", true, err, "liverestore.copy_failed", lr.LiveAuthDBPath, err)
	}
	lr.LiveAuthDBHash = res.SHA256
	lr.CompareMatch = res.SHA256 == src.sha256
	lr.Notes = m.tr("liverestore.notes.done", lr.JobID, lr.BeforeRestorePath)
	return nil
}

// markLiveRestarted records whether the stopped containers run again.
func (m *Manager) markLiveRestarted(lr *LiveRestore, err error) {
	if err != nil {
		m.log.Error("cannot start the containers a real restore stopped; recovery retries", zap.String("restore_id", lr.RestoreID), zap.Error(err))
		return
	}
	lr.ServicesRestarted = true
	ctx, cancel := m.dbCtx()
	defer cancel()
	if werr := m.db.Write(ctx, func(tx *statedb.Tx) error {
		return tx.MarkLiveRestoreRestarted(lr.RestoreID, m.cfg.Now().UnixMilli())
	}); werr != nil {
		m.log.Warn("the containers run again, but recording it failed (the next recovery starts them again, harmlessly)",
			zap.String("restore_id", lr.RestoreID), zap.Error(werr))
	}
}
