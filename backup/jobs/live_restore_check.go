package jobs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/dockerapi"
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
		RestoreID: newLiveRestoreID(), JobID: job.ID, BackupPath: *job.OutputDir, BackupHash: strings.ToLower(*job.PackageHash),
		LiveAuthDBPath: live, ExecutedBy: cmp.Or(req.ExecutedBy, "api"), ExecutedAtMs: m.cfg.Now().UnixMilli(),
		ChangeReason: strings.TrimSpace(req.ChangeReason), Status: statedb.LiveRestoreRunning, StoppedContainers: []string{},
	}
	if req.ExecutedAtMs != nil {
		lr.ExecutedAtMs = *req.ExecutedAtMs
	}
	return lr, set, nil
}

// packDB is the database file of a pack, as checked.
type packDB struct {
	path   string
	sha256 string
}

// checkLivePack checks the pack before anything changes: its manifest hash
// is still the job's, its structure verifies, and its database file hashes
// to the manifest's checksum.
func (m *Manager) checkLivePack(ctx context.Context, lr *LiveRestore) (packDB, error) {
	man, hash, err := pack.ReadManifest(ctx, lr.BackupPath)
	if err != nil {
		return packDB{}, m.refuse("restore_backup_package_not_found", false, err, "liverestore.pack_unreadable", lr.BackupPath, err)
	}
	lr.ActualBackupHash = hash
	lr.HashMatch = hash == lr.BackupHash
	if !lr.HashMatch {
		return packDB{}, m.refuse("restore_backup_hash_mismatch", false, nil, "liverestore.pack_changed", hash, lr.JobID, lr.BackupHash)
	}
	vr, err := pack.Verify(ctx, lr.BackupPath, pack.VerifyOptions{Structural: true, StagingDir: m.cfg.StagingDir, Lang: m.cfg.Lang, Logger: m.log})
	if err != nil {
		if errors.Is(err, pack.ErrVerify) && vr != nil {
			return packDB{}, m.refuse("restore_pack_verification_failed", false, err, "liverestore.pack_failed", failedChecks(vr))
		}
		return packDB{}, m.refuse("restore_pack_verification_failed", false, err, "liverestore.pack_unreadable", lr.BackupPath, err)
	}
	if man.SQLite == nil {
		return packDB{}, m.refuse("restore_auth_db_missing", false, nil, "liverestore.no_db", lr.BackupPath)
	}
	fe, ok := man.File(man.SQLite.File)
	if !ok {
		return packDB{}, m.refuse("restore_auth_db_missing", false, nil, "liverestore.no_db", lr.BackupPath)
	}
	src := packDB{path: filepath.Join(lr.BackupPath, filepath.FromSlash(fe.Path)), sha256: strings.ToLower(fe.SHA256)}
	got, err := fileSHA256(ctx, src.path)
	if err != nil {
		return packDB{}, m.refuse("restore_pack_verification_failed", false, err, "liverestore.pack_unreadable", src.path, err)
	}
	if got != src.sha256 {
		return packDB{}, m.refuse("restore_pack_verification_failed", false, nil, "liverestore.db_changed", fe.Path, got, src.sha256)
	}
	lr.SourceAuthDBPath, lr.SourceAuthDBHash = src.path, src.sha256
	return src, nil
}

// failedChecks names the failed checks of a verification, one line each.
func failedChecks(vr *pack.VerifyResult) string {
	var out []string
	for _, c := range vr.Failed() {
		out = append(out, pack.FormatCheck(c))
	}
	return strings.Join(out, "; ")
}

// fileSHA256 hashes a file, giving up when ctx ends.
func fileSHA256(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, rerr := f.Read(buf)
		h.Write(buf[:n])
		if rerr == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if rerr != nil {
			return "", fmt.Errorf("read %s: %w", path, rerr)
		}
	}
}

// recordLiveRestore stores the restore as running, with the containers it
// is about to stop and the token of the lock it holds, before it stops or
// replaces anything: recovery finds it if this process dies.
func (m *Manager) recordLiveRestore(ctx context.Context, lr *LiveRestore, stop []dockerapi.Container) error {
	cs := make([]statedb.Container, len(stop))
	for i, c := range stop {
		cs[i] = statedb.Container{ID: c.ID, Name: c.Name}
		lr.StoppedContainers = append(lr.StoppedContainers, c.Name)
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
