package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/settings"
)

// newLiveRestore checks the request against the settings (a live database
// configured and present) and its job (its pack's path and hash), and
// starts the restore's record.
func (m *Manager) newLiveRestore(ctx context.Context, req LiveRestoreRequest) (LiveRestore, settings.Settings, error) {
	set, err := m.loadSettings(ctx)
	if err != nil {
		return LiveRestore{}, set, err
	}
	job, err := m.Get(ctx, req.JobID)
	if err != nil {
		return LiveRestore{}, set, err
	}
	live := set.AuthDBPath
	switch {
	case live == "":
		return LiveRestore{}, set, m.refuse("restore_live_auth_db_not_configured", false, nil, "liverestore.not_configured")
	case job.OutputDir == nil || *job.OutputDir == "":
		return LiveRestore{}, set, m.refuse("restore_requires_local_backup", false, nil, "liverestore.no_pack", job.ID, job.Status)
	case job.PackageHash == nil || *job.PackageHash == "":
		return LiveRestore{}, set, m.refuse("restore_requires_job_package_hash", false, nil, "liverestore.no_pack", job.ID, job.Status)
	case filepath.Clean(strings.TrimSpace(req.BackupPath)) != filepath.Clean(*job.OutputDir):
		return LiveRestore{}, set, m.refuse("restore_backup_path_must_match_local_backup", false, nil, "liverestore.path_mismatch", req.BackupPath, job.ID, *job.OutputDir)
	case !strings.EqualFold(strings.TrimSpace(req.BackupHash), *job.PackageHash):
		return LiveRestore{}, set, m.refuse("restore_backup_hash_must_match_job_package_hash", false, nil, "liverestore.hash_mismatch", req.BackupHash, job.ID, *job.PackageHash)
	}
	if fi, err := os.Stat(live); err != nil || !fi.Mode().IsRegular() {
		return LiveRestore{}, set, m.refuse("restore_live_auth_db_not_found:"+live, true, err, "liverestore.live_missing", live)
	}
	lr := LiveRestore{
		RestoreID: restore.NewLiveID(), JobID: job.ID, BackupPath: *job.OutputDir, BackupHash: strings.ToLower(*job.PackageHash),
		LiveAuthDBPath: live, ExecutedBy: cmp.Or(req.ExecutedBy, "api"), ExecutedAtMs: m.cfg.Now().UnixMilli(),
		ChangeReason: strings.TrimSpace(req.ChangeReason), Status: restore.LiveRunning, StoppedContainers: []string{},
	}
	if req.ExecutedAtMs != nil {
		lr.ExecutedAtMs = *req.ExecutedAtMs
	}
	return lr, set, nil
}

// recordLiveRestore stores the restore as running, with what the checks
// found, the containers it is about to stop and the token of the lock it
// holds, before it stops or replaces anything: recovery finds it if this
// process dies.
func (m *Manager) recordLiveRestore(ctx context.Context, lr *LiveRestore, c restore.LiveChecked) error {
	lr.Checked(c)
	cs := make([]statedb.Container, len(c.Stop))
	for i, c := range c.Stop {
		cs[i] = statedb.Container{ID: c.ID, Name: c.Name}
	}
	body, err := json.Marshal(lr)
	if err != nil {
		return err
	}
	return m.db.Write(ctx, func(tx *statedb.Tx) error {
		l, err := tx.Lock()
		if err != nil {
			return err
		}
		if l == nil || l.JobID != lr.JobID {
			return fmt.Errorf("live restore %s: the backup lock is no longer held for job %d", lr.RestoreID, lr.JobID)
		}
		return tx.InsertLiveRestore(statedb.LiveRestore{RestoreID: lr.RestoreID, JobID: lr.JobID, Status: statedb.LiveRestoreRunning,
			ExecutedBy: lr.ExecutedBy, ChangeReason: lr.ChangeReason, ExecutedAtMs: lr.ExecutedAtMs, SourceHash: lr.SourceAuthDBHash,
			LeaseToken: l.OwnerToken, Stopped: cs, Body: body})
	})
}
