package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/settings"
)

// Real restores: RagFlowAuth's admin page restores a job's database into
// the live path (真实恢复当前数据). The job system's part is here — the
// request checked against its job and the settings, the backup lock taken
// (a running backup or drill: 409) and restores a dead process left
// unfinished recovered, the restore recorded (who, why, the pack's
// database hash, the containers it is about to stop) before anything
// changes and its outcome after, so that a crash at any point leaves a
// record from which recovery starts the containers again. The restore
// itself — the pack checked through its pin, the containers stopped, the
// live database kept and replaced, the containers started again — is
// restore.Live.

// RestoreConfirmation is the text a real restore must be confirmed with.
const RestoreConfirmation = "RESTORE"

// Bounds of a real restore.
const (
	liveRestoreStopTimeout = 30 * time.Second // grace of each stopped container
	liveRestoreTimeout     = 30 * time.Minute // the whole restore, once it holds the lock
)

// LiveRestoreRequest asks for a real restore of a job's database into the
// live path (RagFlowAuth's POST /restore/run body).
type LiveRestoreRequest struct {
	JobID int64 `json:"job_id"`
	// BackupPath and BackupHash must equal the job's output_dir and package_hash.
	BackupPath string `json:"backup_path"`
	BackupHash string `json:"backup_hash"`
	// ChangeReason is required: why the live data is replaced.
	ChangeReason string `json:"change_reason"`
	// ConfirmationText must be exactly RestoreConfirmation ("RESTORE").
	ConfirmationText string `json:"confirmation_text"`
	// ExecutedAtMs overrides the recorded time (RagFlowAuth lets the client give it).
	ExecutedAtMs *int64 `json:"executed_at_ms"`
	// ExecutedBy is the authenticated caller (set by the HTTP layer, never
	// from the body); default "api".
	ExecutedBy string `json:"-"`
}

// LiveRestore is one real restore, with RagFlowAuth's field names plus
// dockpack's own (restore_id, the kept copy, the stopped containers).
// Hashes are sha256 of the database files: the restored file is
// byte-identical to the pack's.
type LiveRestore struct {
	RestoreID         string   `json:"restore_id"`
	JobID             int64    `json:"job_id"`
	BackupPath        string   `json:"backup_path"`
	BackupHash        string   `json:"backup_hash"`
	ActualBackupHash  string   `json:"actual_backup_hash"`
	HashMatch         bool     `json:"hash_match"`
	CompareMatch      bool     `json:"compare_match"`
	SourceAuthDBPath  string   `json:"source_auth_db_path"`
	SourceAuthDBHash  string   `json:"source_auth_db_hash"`
	LiveAuthDBPath    string   `json:"live_auth_db_path"`
	LiveAuthDBHash    string   `json:"live_auth_db_hash"`
	BeforeRestorePath string   `json:"before_restore_path"`
	BeforeRestoreHash string   `json:"before_restore_hash"`
	StoppedContainers []string `json:"stopped_containers"`
	ServicesRestarted bool     `json:"services_restarted"`
	ExecutedBy        string   `json:"executed_by"`
	ExecutedAtMs      int64    `json:"executed_at_ms"`
	FinishedAtMs      *int64   `json:"finished_at_ms"`
	ChangeReason      string   `json:"change_reason"`
	Status            string   `json:"status"` // running | completed | failed
	Result            string   `json:"result"` // success | failed
	Notes             string   `json:"notes"`
	Detail            *string  `json:"detail"` // why it failed
}

func newLiveRestoreID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "live_restore_" + hex.EncodeToString(b)
}

// checkLiveRestoreRequest refuses a request that cannot be a restore, with
// RagFlowAuth's codes.
func (m *Manager) checkLiveRestoreRequest(r LiveRestoreRequest) error {
	switch {
	case r.JobID <= 0:
		return m.refuse("invalid_job_id", false, nil, "liverestore.invalid_job_id", r.JobID)
	case strings.TrimSpace(r.BackupPath) == "":
		return m.refuse("backup_path_required", false, nil, "liverestore.path_required")
	case strings.TrimSpace(r.BackupHash) == "":
		return m.refuse("backup_hash_required", false, nil, "liverestore.hash_required")
	case strings.TrimSpace(r.ChangeReason) == "":
		return m.refuse("change_reason_required", false, nil, "liverestore.reason_required")
	case strings.TrimSpace(r.ConfirmationText) == "":
		return m.refuse("restore_confirmation_text_required", false, nil, "liverestore.confirmation_required", RestoreConfirmation)
	case strings.TrimSpace(r.ConfirmationText) != RestoreConfirmation:
		return m.refuse("restore_confirmation_text_invalid", false, nil, "liverestore.confirmation_invalid", r.ConfirmationText, RestoreConfirmation)
	}
	return nil
}

// RunLiveRestore restores the database of a job's pack into the live path
// (the auth_db_path setting); see restore.Live. Refusals before anything
// changed are *RestoreError (400: the request or the pack; 409: busy, the
// database missing or in use) or wrap ErrJobNotFound; a restore that fails
// after it was recorded returns its record and a *RestoreError. Canceling
// ctx (the client going away) does not interrupt a restore that started:
// only Close or the loss of the lock do, and the containers are started
// again in every case.
func (m *Manager) RunLiveRestore(ctx context.Context, req LiveRestoreRequest) (LiveRestore, error) {
	if err := m.checkLiveRestoreRequest(req); err != nil {
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
	m.recoverLiveRestores(hctx, m.liveRestoreSay)

	recorded := false
	res, err := restore.Live(hctx, restore.LiveSpec{Pack: lr.BackupPath, PackageHash: lr.BackupHash, JobID: lr.JobID,
		Live: lr.LiveAuthDBPath, Stop: stopList(set), Engine: m.cfg.Engine, StopTimeout: liveRestoreStopTimeout,
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
	out := []LiveRestore{}
	err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		bodies, err := tx.LiveRestoreBodies(clampLimit(limit))
		for _, b := range bodies {
			var lr LiveRestore
			if err := json.Unmarshal(b, &lr); err != nil {
				return fmt.Errorf("state db: a stored live restore is not valid JSON: %w", err)
			}
			if lr.StoppedContainers == nil {
				lr.StoppedContainers = []string{}
			}
			out = append(out, lr)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// finishLiveRestore completes lr with the replacement's outcome (err nil:
// done) and stores it; a failure to store is logged (the restore itself
// happened).
func (m *Manager) finishLiveRestore(lr *LiveRestore, res restore.LiveResult, err error) {
	now := m.cfg.Now().UnixMilli()
	lr.FinishedAtMs = &now
	lr.BeforeRestorePath, lr.BeforeRestoreHash = res.Kept, res.KeptSHA256
	lr.LiveAuthDBHash, lr.CompareMatch = res.SHA256, res.SHA256 != "" && res.SHA256 == lr.SourceAuthDBHash
	lr.Status, lr.Result = statedb.LiveRestoreCompleted, "success"
	lr.Notes = m.tr("liverestore.notes.done", lr.JobID, lr.BeforeRestorePath)
	if !lr.ServicesRestarted {
		lr.Notes += "; " + m.tr("liverestore.notes.restart_failed", strings.Join(lr.StoppedContainers, ", "))
	}
	if err != nil {
		lr.Status, lr.Result = statedb.LiveRestoreFailed, "failed"
		lr.Detail = ptr(err.Error())
		lr.Notes = err.Error()
	}
	if werr := m.storeLiveRestore(lr, err == nil); werr != nil {
		m.log.Error("cannot record the end of a real restore", zap.String("restore_id", lr.RestoreID), zap.Error(werr))
	}
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
