package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/internal/nonnil"
)

// Real restores (RagFlowAuth's 真实恢复当前数据; the restore itself is
// restore.Live): the request checked against its job and the settings, the
// backup lock taken, the restore recorded before anything changes and its
// outcome after, so that recovery finds a restore whose process died.

// RestoreConfirmation is the text a real restore must be confirmed with.
const RestoreConfirmation = restore.LiveConfirmation

// LiveRestoreRequest asks for a real restore of a job's database into the
// live path (RagFlowAuth's POST /restore/run body).
type LiveRestoreRequest = restore.LiveRequest

// LiveRestore is one real restore as recorded and served.
type LiveRestore = restore.LiveRecord

// ErrRestoreConflict: a real restore cannot run now (a backup holds the
// lock, the live database stays in use or is missing); nothing was changed.
var ErrRestoreConflict = restore.ErrLiveConflict

// RestoreError is a refused (or failed) real restore (restore.LiveError):
// Code is the stable machine code (RagFlowAuth's where it has one); Message
// says why, in Config.Lang. It matches backup.ErrInvalidSpec (the request
// or the pack is at fault: HTTP 400) or, when Conflict, ErrRestoreConflict (409).
type RestoreError = restore.LiveError

// refuse is a RestoreError with its message in the configured language.
func (m *Manager) refuse(code string, conflict bool, err error, key string, args ...any) *RestoreError {
	return restore.NewLiveError(m.cfg.Lang, code, conflict, err, key, args...)
}

// liveRestoreTimeout bounds a real restore once it holds the lock (each
// stopped container has restore.Live's default grace).
const liveRestoreTimeout = 30 * time.Minute

// RunLiveRestore restores the database of a job's pack into the live path
// (the auth_db_path setting); see restore.Live. Refusals before anything
// changed are *RestoreError (400: the request or the pack; 409: busy, the
// database missing or in use) or wrap ErrJobNotFound; a restore that fails
// after it was recorded returns its record and a *RestoreError. Canceling
// ctx (the client going away) does not interrupt a restore that started:
// only Close or the loss of the lock do, and the containers are started
// again in every case.
func (m *Manager) RunLiveRestore(ctx context.Context, req LiveRestoreRequest) (LiveRestore, error) {
	if err := req.Validate(m.cfg.Lang); err != nil {
		return LiveRestore{}, err
	}
	done, err := m.enter()
	if err != nil {
		return LiveRestore{}, err
	}
	defer done()

	lr, set, err := m.newLiveRestore(ctx, req)
	if err != nil {
		return LiveRestore{}, err
	}
	hctx, release, err := m.holdLease(context.WithoutCancel(ctx), "live restore "+lr.RestoreID, lr.JobID)
	if err != nil {
		var busy *BusyError
		if errors.As(err, &busy) {
			return LiveRestore{}, m.refuse(fmt.Sprintf("restore_requires_no_active_backup_job:%d", busy.JobID), true, err, "liverestore.busy", busy.JobID)
		}
		return LiveRestore{}, err
	}
	defer release()
	hctx, cancel := context.WithTimeout(hctx, liveRestoreTimeout)
	defer cancel()
	log := m.log.With(zap.String("restore_id", lr.RestoreID), zap.Int64("job_id", lr.JobID))
	m.rec.LiveRestores(hctx)

	keys, err := openKeys(hctx, set) // a sealed pack's identity (age_identity_file)
	if err != nil {
		return LiveRestore{}, err
	}
	recorded := false
	res, err := restore.Live(hctx, restore.LiveSpec{Pack: lr.BackupPath, PackageHash: lr.BackupHash, JobID: lr.JobID,
		Live: lr.LiveAuthDBPath, Stop: stopList(set), Engine: m.cfg.Engine, Keys: keys, IdentityHint: IdentityHint,
		StagingDir: m.cfg.StagingDir, Owner: m.id, Now: m.cfg.Now, Lang: m.cfg.Lang, Logger: m.log,
		Record: func(ctx context.Context, c restore.LiveChecked) error {
			err := m.recordLiveRestore(ctx, &lr, c)
			recorded = err == nil
			if recorded {
				log.Info("real restore started", zap.String("live", lr.LiveAuthDBPath), zap.String("by", lr.ExecutedBy),
					zap.String("reason", lr.ChangeReason), zap.Strings("stop", lr.StoppedContainers))
			}
			return err
		},
		Restarted: func(err error) { m.markLiveRestarted(&lr, err) },
	})
	if !recorded {
		log.Warn("real restore refused", zap.Error(err))
		return LiveRestore{}, err
	}
	m.finishLiveRestore(&lr, res, err)
	if err != nil {
		log.Error("real restore failed", zap.Error(err))
		return lr, err
	}
	log.Info("real restore done", zap.String("kept", lr.BeforeRestorePath), zap.Bool("services_restarted", lr.ServicesRestarted))
	return lr, nil
}

// stopList names the containers a real restore stops: those
// restore_stop_services names, else the backup's stop list (stop_services,
// or every service with ragflow_stop_services).
func stopList(s settings.Settings) restore.StopList {
	project := s.RagflowProjectName
	if project == "" {
		project = settings.ComposeProjectName(s.RagflowComposePath)
	}
	return restore.StopList{Selectors: s.RestoreStopServices, Project: project, Services: s.StopServices, All: s.RagflowStopServices}
}

// ListLiveRestores returns the recorded real restores, newest first; limit
// is clamped to 1..200 (0: 30).
func (m *Manager) ListLiveRestores(ctx context.Context, limit int) ([]LiveRestore, error) {
	return listRecords(ctx, m, (*statedb.Tx).LiveRestoreBodies, limit, func(b []byte) (LiveRestore, error) {
		var lr LiveRestore
		if err := json.Unmarshal(b, &lr); err != nil {
			return lr, fmt.Errorf("state db: a stored live restore is not valid JSON: %w", err)
		}
		lr.StoppedContainers = nonnil.Slice(lr.StoppedContainers)
		return lr, nil
	})
}

// finishLiveRestore completes lr with the replacement's outcome (err nil:
// done) and stores it; a failure to store is logged (the restore itself
// happened).
func (m *Manager) finishLiveRestore(lr *LiveRestore, res restore.LiveResult, err error) {
	lr.End(res, err, m.cfg.Now().UnixMilli(), m.cfg.Lang)
	if werr := m.storeLiveRestore(lr, err == nil); werr != nil {
		m.log.Error("cannot record the end of a real restore", zap.String("restore_id", lr.RestoreID), zap.Error(werr))
	}
}

// storeLiveRestore writes lr's end, and on success a line in its job's log.
func (m *Manager) storeLiveRestore(lr *LiveRestore, logJob bool) error {
	body, err := json.Marshal(lr)
	if err != nil {
		return err
	}
	ctx, cancel := m.dbCtx()
	defer cancel()
	return m.db.Write(ctx, func(tx *statedb.Tx) error {
		row := statedb.LiveRestore{RestoreID: lr.RestoreID, Status: lr.Status, FinishedAtMs: lr.FinishedAtMs, Body: body}
		if lr.LiveAuthDBHash != "" {
			row.LiveHash = &lr.LiveAuthDBHash
		}
		if lr.BeforeRestorePath != "" {
			row.BeforePath, row.BeforeHash = &lr.BeforeRestorePath, &lr.BeforeRestoreHash
		}
		if err := tx.FinishLiveRestore(row); err != nil {
			return err
		}
		if !logJob {
			return nil
		}
		msg := m.tr("liverestore.log.done", cmp.Or(lr.ExecutedBy, "api"), lr.LiveAuthDBPath, lr.ChangeReason, lr.BeforeRestorePath)
		return tx.InsertEvents(lr.JobID, []statedb.Event{{AtMs: *lr.FinishedAtMs, Level: "warn", Message: msg}}, m.cfg.EventsPerJob)
	})
}

// markLiveRestarted records that the stopped containers run again (err
// nil), or logs why not.
func (m *Manager) markLiveRestarted(lr *LiveRestore, err error) {
	if err != nil {
		m.log.Error("cannot start the containers a real restore stopped; recovery retries", zap.String("restore_id", lr.RestoreID), zap.Error(err))
		return
	}
	ctx, cancel := m.dbCtx()
	defer cancel()
	if werr := m.db.Write(ctx, func(tx *statedb.Tx) error {
		return tx.MarkLiveRestoreRestarted(lr.RestoreID, m.cfg.Now().UnixMilli())
	}); werr != nil {
		m.log.Warn("the containers run again, but recording it failed (the next recovery starts them again, harmlessly)",
			zap.String("restore_id", lr.RestoreID), zap.Error(werr))
	}
}
