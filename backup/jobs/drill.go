package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/drill"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/textutil"
)

// Restore drills: RagFlowAuth's admin page proves a backup restorable by
// "drilling" it — verify the pack, restore its SQLite snapshot into a
// staging folder (never the live database) and compare checksums — and
// records the outcome on the job (verification_status) and in a list of
// drills. A drill holds the backup lock while it runs, so it never runs
// beside a backup (or another drill).

// RunDrill runs a restore drill of a job's pack and records it:
//  1. the request must name the job's output_dir and package_hash (else an
//     error wrapping ErrInvalidSpec, "backup_path_mismatch" /
//     "backup_hash_mismatch"; an unknown job is ErrJobNotFound);
//  2. it takes the backup lock (a live backup or drill: *BusyError) and
//     renews it while it runs;
//  3. Verify (every file re-hashed, structure checked), then — when the
//     pack passed — sqlitesnap.Restore of the snapshot into
//     <DrillDir>/<restore_target>/<drill_id>/ and a checksum comparison;
//  4. the drill is stored and the job's verification_status,
//     verification_detail, verified_by, last_restore_drill_id (and, when
//     passed, verified_at_ms) are set.
//
// A failing pack is a drill with acceptance_status failed, not an error.
// Earlier drills' restored databases under the same restore_target are
// removed.
func (m *Manager) RunDrill(ctx context.Context, req drill.Request) (drill.Drill, error) {
	if err := req.Validate(); err != nil {
		return drill.Drill{}, err
	}
	target, _ := drill.SanitizeRestoreTarget(req.RestoreTarget)
	done, err := m.enter()
	if err != nil {
		return drill.Drill{}, err
	}
	defer done()

	d, err := m.newDrill(ctx, req)
	if err != nil {
		return drill.Drill{}, err
	}
	dctx, release, err := m.holdLease(ctx, "restore drill "+d.DrillID, d.JobID)
	if err != nil {
		return drill.Drill{}, err
	}
	log := m.log.With(zap.String("drill_id", d.DrillID), zap.Int64("job_id", d.JobID))
	log.Info("restore drill started", zap.String("pack", d.BackupPath), zap.String("restore_target", target))
	if h := m.cfg.Hooks.BeforeStep; h != nil {
		if err := h(dctx, progress.StepVerify); err != nil {
			release()
			return drill.Drill{}, fmt.Errorf("restore drill %s of job %d: %w", d.DrillID, d.JobID, err)
		}
	}
	keys, err := m.OpenKeys(dctx) // a sealed pack's identity (age_identity_file)
	if err != nil {
		release()
		return drill.Drill{}, fmt.Errorf("restore drill %s of job %d: %w", d.DrillID, d.JobID, err)
	}
	m.runDrill(dctx, &d, drill.Options{Dir: filepath.Join(m.cfg.DrillDir, target), StagingDir: m.cfg.StagingDir, Logger: log,
		Keys: keys, IdentityHint: IdentityHint}) // s3.go
	release()
	if ctx.Err() != nil {
		return drill.Drill{}, fmt.Errorf("restore drill %s of job %d: %w", d.DrillID, d.JobID, ctx.Err())
	}
	wctx, cancel := m.dbCtx()
	defer cancel()
	if err := m.db.Write(wctx, func(tx *statedb.Tx) error { return recordDrill(tx, d) }); err != nil {
		return drill.Drill{}, fmt.Errorf("restore drill %s: record it in the state DB: %w", d.DrillID, err)
	}
	log.Info("restore drill finished", zap.String("acceptance", d.AcceptanceStatus), zap.Strings("failed", d.VerificationReport.Failed))
	return d, nil
}

// newDrill checks the request against its job (its output_dir and
// package_hash) and starts the drill's record.
func (m *Manager) newDrill(ctx context.Context, req drill.Request) (drill.Drill, error) {
	job, err := m.Get(ctx, req.JobID)
	if err != nil {
		return drill.Drill{}, err
	}
	if job.OutputDir == nil || *job.OutputDir == "" || job.PackageHash == nil {
		return drill.Drill{}, fmt.Errorf("%w: job_has_no_pack: job %d (%s) has no pack to drill", backup.ErrInvalidSpec, job.ID, job.Status)
	}
	if filepath.Clean(strings.TrimSpace(req.BackupPath)) != filepath.Clean(*job.OutputDir) {
		return drill.Drill{}, fmt.Errorf("%w: backup_path_mismatch: backup_path %q is not job %d's output_dir %q", backup.ErrInvalidSpec, req.BackupPath, job.ID, *job.OutputDir)
	}
	if !strings.EqualFold(strings.TrimSpace(req.BackupHash), *job.PackageHash) {
		return drill.Drill{}, fmt.Errorf("%w: backup_hash_mismatch: backup_hash %q is not job %d's package_hash %q", backup.ErrInvalidSpec, req.BackupHash, job.ID, *job.PackageHash)
	}
	d := drill.Drill{
		DrillID: drill.NewID(), JobID: job.ID, BackupPath: *job.OutputDir, BackupHash: strings.ToLower(strings.TrimSpace(req.BackupHash)),
		RestoreTarget: req.RestoreTarget, ExecutedBy: cmp.Or(req.ExecutedBy, "api"), ExecutedAtMs: m.cfg.Now().UnixMilli(),
		VerificationNotes: req.VerificationNotes, Reason: cmp.Or(req.Reason, "manual_restore_drill"),
		VerificationReport: drill.Report{Checks: []check.Check{}},
	}
	if req.ExecutedAtMs != nil {
		d.ExecutedAtMs = *req.ExecutedAtMs
	}
	return d, nil
}

// ListDrills returns the recorded drills, newest first; limit is clamped
// to 1..200 (0: 30).
func (m *Manager) ListDrills(ctx context.Context, limit int) ([]drill.Drill, error) {
	return listRecords(ctx, m, (*statedb.Tx).DrillBodies, limit, drillOf)
}

// listRecords reads stored records (drills, real restores: bodies, newest
// first, limit clamped) and decodes each.
func listRecords[T any](ctx context.Context, m *Manager, bodies func(*statedb.Tx, int) ([][]byte, error), limit int, decode func([]byte) (T, error)) ([]T, error) {
	out := []T{}
	err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		bs, err := bodies(tx, clampLimit(limit))
		for _, b := range bs {
			v, derr := decode(b)
			if derr != nil {
				return derr
			}
			out = append(out, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// drillOf decodes a stored drill.
func drillOf(body []byte) (drill.Drill, error) {
	var d drill.Drill
	if err := json.Unmarshal(body, &d); err != nil {
		return drill.Drill{}, fmt.Errorf("state db: a stored restore drill is not valid JSON: %w", err)
	}
	d.Normalize()
	return d, nil
}

// GetDrill returns one recorded drill (ErrDrillNotFound when unknown).
func (m *Manager) GetDrill(ctx context.Context, drillID string) (drill.Drill, error) {
	var body []byte
	if err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		var err error
		body, err = tx.DrillBody(drillID)
		return err
	}); err != nil {
		return drill.Drill{}, err
	}
	if body == nil {
		return drill.Drill{}, fmt.Errorf("%w: no restore drill %q", ErrDrillNotFound, drillID)
	}
	return drillOf(body)
}

// ErrDrillNotFound: no drill with that id.
var ErrDrillNotFound = errors.New("drill_not_found")

// recordDrill stores d and updates its job's verification fields.
func recordDrill(tx *statedb.Tx, d drill.Drill) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := tx.InsertDrill(statedb.Drill{DrillID: d.DrillID, JobID: d.JobID, ExecutedAtMs: d.ExecutedAtMs,
		AcceptanceStatus: d.AcceptanceStatus, Result: d.Result, Body: body}); err != nil {
		return err
	}
	detail := fmt.Sprintf("restore drill %s: %s", d.DrillID, d.AcceptanceStatus)
	if len(d.VerificationReport.Failed) > 0 {
		detail += ": " + strings.Join(d.VerificationReport.Failed, "; ")
	}
	v := statedb.Verification{Status: d.AcceptanceStatus, Detail: textutil.Truncate(detail, 4000), VerifiedBy: d.ExecutedBy, DrillID: d.DrillID}
	if d.AcceptanceStatus == drill.Passed {
		v.VerifiedAtMs = &d.ExecutedAtMs
	}
	return tx.SetVerification(d.JobID, v)
}
