package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/textutil"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// Restore drills: RagFlowAuth's admin page proves a backup restorable by
// "drilling" it — verify the pack, restore its SQLite snapshot into a
// staging folder (never the live database) and compare checksums — and
// records the outcome on the job (verification_status) and in a list of
// drills. A drill holds the backup lock while it runs, so it never runs
// beside a backup (or another drill).

// Drill acceptance statuses (acceptance_status, and the job's verification_status).
const (
	DrillPassed  = "passed"
	DrillFailed  = "failed"
	DrillBlocked = "blocked" // the drill could not run to its end (pack unreachable, staging unusable, …)
)

// Drill check statuses.
const (
	CheckPassed  = "passed"
	CheckFailed  = "failed"
	CheckSkipped = "skipped"
	CheckBlocked = "blocked"
)

// DrillRequest asks for a restore drill of a job's pack (RagFlowAuth's
// POST /restore-drills body).
type DrillRequest struct {
	JobID int64 `json:"job_id"`
	// BackupPath and BackupHash must equal the job's output_dir and package_hash.
	BackupPath string `json:"backup_path"`
	BackupHash string `json:"backup_hash"`
	// RestoreTarget names the staging subfolder the database is restored
	// into (sanitized: letters, digits, '.', '_' and '-' only).
	RestoreTarget     string  `json:"restore_target"`
	VerificationNotes *string `json:"verification_notes"`
	// ExecutedAtMs overrides the recorded time (RagFlowAuth lets the client give it).
	ExecutedAtMs *int64 `json:"executed_at_ms"`
	// Reason defaults to "manual_restore_drill".
	Reason string `json:"reason"`
	// ExecutedBy is the authenticated identity of the caller (set by the
	// HTTP layer, never from the body); default "api".
	ExecutedBy string `json:"-"`
}

// Validate reports a request that cannot be drilled; errors wrap
// ErrInvalidSpec and start with RagFlowAuth's detail code.
func (r DrillRequest) Validate() error {
	bad := func(code, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", backup.ErrInvalidSpec, code, fmt.Sprintf(format, a...))
	}
	switch {
	case r.JobID <= 0:
		return bad("invalid_job_id", "job_id %d is not a job id", r.JobID)
	case strings.TrimSpace(r.BackupPath) == "":
		return bad("backup_path_required", "give the job's output_dir as backup_path")
	case strings.TrimSpace(r.BackupHash) == "":
		return bad("backup_hash_required", "give the job's package_hash as backup_hash")
	case strings.TrimSpace(r.RestoreTarget) == "":
		return bad("restore_target_required", "give restore_target, the name of the staging folder (e.g. \"staging\")")
	}
	if _, err := SanitizeRestoreTarget(r.RestoreTarget); err != nil {
		return err
	}
	return nil
}

// SanitizeRestoreTarget turns a restore_target into a single safe path
// element: characters other than letters, digits, '.', '_' and '-' become
// '_', leading dots are dropped, at most 64 characters. Nothing left is an
// error wrapping ErrInvalidSpec.
func SanitizeRestoreTarget(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.TrimLeft(b.String(), ".")
	if len(out) > 64 {
		out = out[:64]
	}
	if strings.Trim(out, "_") == "" {
		return "", fmt.Errorf("%w: invalid_restore_target: %q names no folder (use letters, digits, '.', '_' or '-')", backup.ErrInvalidSpec, s)
	}
	return out, nil
}

// DrillCheck is one line of a drill's verification report.
type DrillCheck struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // passed | failed | skipped | blocked
	Path     string `json:"path,omitempty"`
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// DrillReport is a drill's verification_report.
type DrillReport struct {
	Checks []DrillCheck `json:"checks"`
	// Failed names the failing checks ("volumes/x.tar: expected …").
	Failed     []string `json:"failed,omitempty"`
	Bytes      int64    `json:"bytes_verified"`
	DurationMs int64    `json:"duration_ms"`
}

// Drill is one restore drill, with RagFlowAuth's JSON field names.
type Drill struct {
	DrillID                 string      `json:"drill_id"`
	JobID                   int64       `json:"job_id"`
	BackupPath              string      `json:"backup_path"`
	BackupHash              string      `json:"backup_hash"`
	ActualBackupHash        string      `json:"actual_backup_hash"`
	HashMatch               bool        `json:"hash_match"`
	RestoreTarget           string      `json:"restore_target"`
	RestoredAuthDBPath      *string     `json:"restored_auth_db_path"`
	RestoredAuthDBHash      *string     `json:"restored_auth_db_hash"`
	CompareMatch            bool        `json:"compare_match"`
	PackageValidationStatus string      `json:"package_validation_status"` // passed | failed | blocked
	AcceptanceStatus        string      `json:"acceptance_status"`         // passed | failed | blocked
	ExecutedBy              string      `json:"executed_by"`
	ExecutedAtMs            int64       `json:"executed_at_ms"`
	Result                  string      `json:"result"` // success | failed
	VerificationNotes       *string     `json:"verification_notes"`
	VerificationReport      DrillReport `json:"verification_report"`
	Reason                  string      `json:"reason"`
}

func newDrillID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "restore_drill_" + hex.EncodeToString(b)
}

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
func (m *Manager) RunDrill(ctx context.Context, req DrillRequest) (Drill, error) {
	if err := req.Validate(); err != nil {
		return Drill{}, err
	}
	target, _ := SanitizeRestoreTarget(req.RestoreTarget)
	m.startMu.Lock()
	if m.closed {
		m.startMu.Unlock()
		return Drill{}, ErrClosed
	}
	m.wg.Add(1)
	m.startMu.Unlock()
	defer m.wg.Done()

	job, err := m.Get(ctx, req.JobID)
	if err != nil {
		return Drill{}, err
	}
	if job.OutputDir == nil || *job.OutputDir == "" || job.PackageHash == nil {
		return Drill{}, fmt.Errorf("%w: job_has_no_pack: job %d (%s) has no pack to drill", backup.ErrInvalidSpec, job.ID, job.Status)
	}
	if filepath.Clean(strings.TrimSpace(req.BackupPath)) != filepath.Clean(*job.OutputDir) {
		return Drill{}, fmt.Errorf("%w: backup_path_mismatch: backup_path %q is not job %d's output_dir %q", backup.ErrInvalidSpec, req.BackupPath, job.ID, *job.OutputDir)
	}
	if !strings.EqualFold(strings.TrimSpace(req.BackupHash), *job.PackageHash) {
		return Drill{}, fmt.Errorf("%w: backup_hash_mismatch: backup_hash %q is not job %d's package_hash %q", backup.ErrInvalidSpec, req.BackupHash, job.ID, *job.PackageHash)
	}

	d := Drill{
		DrillID: newDrillID(), JobID: job.ID, BackupPath: *job.OutputDir, BackupHash: strings.ToLower(strings.TrimSpace(req.BackupHash)),
		RestoreTarget: req.RestoreTarget, ExecutedBy: req.ExecutedBy, ExecutedAtMs: m.cfg.Now().UnixMilli(),
		VerificationNotes: req.VerificationNotes, Reason: req.Reason,
		VerificationReport: DrillReport{Checks: []DrillCheck{}},
	}
	if d.ExecutedBy == "" {
		d.ExecutedBy = "api"
	}
	if req.ExecutedAtMs != nil {
		d.ExecutedAtMs = *req.ExecutedAtMs
	}
	if d.Reason == "" {
		d.Reason = "manual_restore_drill"
	}

	dctx, release, err := m.holdLease(ctx, "restore drill "+d.DrillID, job.ID)
	if err != nil {
		return Drill{}, err
	}
	log := m.log.With(zap.String("drill_id", d.DrillID), zap.Int64("job_id", job.ID))
	log.Info("restore drill started", zap.String("pack", d.BackupPath), zap.String("restore_target", target))
	if h := m.cfg.Hooks.BeforeStep; h != nil {
		if err := h(dctx, progress.StepVerify); err != nil {
			release()
			return Drill{}, fmt.Errorf("restore drill %s of job %d: %w", d.DrillID, job.ID, err)
		}
	}
	runDrill(dctx, &d, filepath.Join(m.cfg.DrillDir, target), m.cfg.StagingDir, log)
	release()
	if ctx.Err() != nil {
		return Drill{}, fmt.Errorf("restore drill %s of job %d: %w", d.DrillID, job.ID, ctx.Err())
	}

	wctx, cancel := m.dbCtx()
	defer cancel()
	if err := m.db.Write(wctx, func(tx *statedb.Tx) error { return recordDrill(tx, d) }); err != nil {
		return Drill{}, fmt.Errorf("restore drill %s: record it in the state DB: %w", d.DrillID, err)
	}
	log.Info("restore drill finished", zap.String("acceptance", d.AcceptanceStatus), zap.Strings("failed", d.VerificationReport.Failed))
	return d, nil
}

// ListDrills returns the recorded drills, newest first; limit is clamped
// to 1..200 (0: 30).
func (m *Manager) ListDrills(ctx context.Context, limit int) ([]Drill, error) {
	out := []Drill{}
	err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		bodies, err := tx.DrillBodies(clampLimit(limit))
		for _, b := range bodies {
			d, derr := drillOf(b)
			if derr != nil {
				return derr
			}
			out = append(out, d)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// drillOf decodes a stored drill.
func drillOf(body []byte) (Drill, error) {
	var d Drill
	if err := json.Unmarshal(body, &d); err != nil {
		return Drill{}, fmt.Errorf("state db: a stored restore drill is not valid JSON: %w", err)
	}
	if d.VerificationReport.Checks == nil {
		d.VerificationReport.Checks = []DrillCheck{}
	}
	return d, nil
}

// GetDrill returns one recorded drill (ErrDrillNotFound when unknown).
func (m *Manager) GetDrill(ctx context.Context, drillID string) (Drill, error) {
	var body []byte
	if err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		var err error
		body, err = tx.DrillBody(drillID)
		return err
	}); err != nil {
		return Drill{}, err
	}
	if body == nil {
		return Drill{}, fmt.Errorf("%w: no restore drill %q", ErrDrillNotFound, drillID)
	}
	return drillOf(body)
}

// ErrDrillNotFound: no drill with that id.
var ErrDrillNotFound = errors.New("drill_not_found")

// runDrill verifies d's pack, restores its SQLite snapshot under dir and
// fills in d's verdict. It never fails: what goes wrong is a check.
func runDrill(ctx context.Context, d *Drill, dir, staging string, log *zap.Logger) {
	start := time.Now()
	rep := &d.VerificationReport
	add := func(c DrillCheck) {
		rep.Checks = append(rep.Checks, c)
		if c.Status == CheckFailed || c.Status == CheckBlocked {
			s := c.Name
			if c.Path != "" {
				s = c.Path
			}
			if c.Expected != "" || c.Actual != "" {
				s += fmt.Sprintf(": expected %s, actual %s", c.Expected, c.Actual)
			} else if c.Detail != "" {
				s += ": " + c.Detail
			}
			rep.Failed = append(rep.Failed, s)
		}
	}
	blocked := false
	vr, verr := pack.Verify(ctx, d.BackupPath, pack.VerifyOptions{StagingDir: staging, Logger: log})
	switch {
	case verr == nil:
		d.PackageValidationStatus = DrillPassed
	case errors.Is(verr, pack.ErrVerify):
		d.PackageValidationStatus = DrillFailed
	default:
		d.PackageValidationStatus, blocked = DrillBlocked, true
	}
	if vr != nil {
		rep.Bytes = vr.Bytes
		d.ActualBackupHash = vr.PackageHash
		for _, c := range vr.Checks {
			st := CheckPassed
			if !c.OK() {
				st = CheckFailed
				if c.Kind == string(pack.FileDir) {
					st, blocked = CheckBlocked, true
					d.PackageValidationStatus = DrillBlocked
				}
			}
			add(DrillCheck{Name: c.Name, Status: st, Path: c.Path, Expected: c.Expected, Actual: c.Actual, Detail: c.Detail})
		}
	}
	if verr != nil && !errors.Is(verr, pack.ErrVerify) {
		add(DrillCheck{Name: "verify", Status: CheckBlocked, Detail: verr.Error()})
	}
	d.HashMatch = d.ActualBackupHash != "" && d.ActualBackupHash == d.BackupHash
	hc := DrillCheck{Name: "package_hash", Status: CheckPassed, Path: pack.ManifestFile, Expected: d.BackupHash, Actual: d.ActualBackupHash,
		Detail: "the sha256 of manifest.json equals the job's package_hash"}
	if !d.HashMatch {
		hc.Status, hc.Detail = CheckFailed, "manifest.json changed since the backup recorded its hash"
		if d.ActualBackupHash == "" {
			hc.Status, hc.Detail, blocked = CheckBlocked, "manifest.json could not be read", true
		}
	} else {
		hc.Expected, hc.Actual = "", ""
	}
	add(hc)

	// Restore the SQLite snapshot into the staging folder.
	rc := DrillCheck{Name: "restore_sqlite"}
	switch {
	case vr == nil || vr.Manifest == nil || verr != nil:
		rc.Status, rc.Detail = CheckSkipped, "the pack did not pass verification"
	case vr.Manifest.SQLite == nil:
		rc.Status, rc.Detail = CheckSkipped, "the pack holds no database"
	default:
		fe, _ := vr.Manifest.File(vr.Manifest.SQLite.File)
		rc.Path = fe.Path
		dest := filepath.Join(dir, d.DrillID, filepath.Base(fe.Path))
		res, err := restoreDrillDB(ctx, filepath.Join(d.BackupPath, filepath.FromSlash(fe.Path)), dest, staging, fe.SHA256)
		switch {
		case err == nil:
			d.RestoredAuthDBPath, d.RestoredAuthDBHash = &dest, &res.SHA256
			d.CompareMatch = res.SHA256 == fe.SHA256
			rc.Status, rc.Detail = CheckPassed, fmt.Sprintf("restored to %s and checked (%s); sha256 equals the pack's", dest, res.Check)
			if !d.CompareMatch {
				rc.Status, rc.Expected, rc.Actual = CheckFailed, "sha256 "+fe.SHA256, "sha256 "+res.SHA256
				rc.Detail = "the restored database differs from the snapshot in the pack"
			}
			pruneDrillDirs(dir, d.DrillID, log)
		case errors.Is(err, sqlitesnap.ErrCorrupt), errors.Is(err, sqlitesnap.ErrNotDatabase):
			rc.Status, rc.Detail = CheckFailed, err.Error()
		default:
			rc.Status, rc.Detail, blocked = CheckBlocked, err.Error(), true
		}
	}
	add(rc)

	switch {
	case len(rep.Failed) == 0 && d.PackageValidationStatus == DrillPassed:
		d.AcceptanceStatus, d.Result = DrillPassed, "success"
	case blocked && !anyFailed(rep.Checks):
		d.AcceptanceStatus, d.Result = DrillBlocked, "failed"
	default:
		d.AcceptanceStatus, d.Result = DrillFailed, "failed"
	}
	rep.DurationMs = time.Since(start).Milliseconds()
}

func anyFailed(cs []DrillCheck) bool {
	for _, c := range cs {
		if c.Status == CheckFailed {
			return true
		}
	}
	return false
}

// restoreDrillDB restores a snapshot into dest (a fresh drill folder).
func restoreDrillDB(ctx context.Context, snapshot, dest, staging, sha string) (sqlitesnap.Result, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return sqlitesnap.Result{}, fmt.Errorf("create the drill folder: %w", err)
	}
	return sqlitesnap.Restore(ctx, snapshot, dest, sqlitesnap.RestoreOptions{StagingDir: staging, ExpectSHA256: sha})
}

// pruneDrillDirs removes earlier drills' folders under dir.
func pruneDrillDirs(dir, keep string, log *zap.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "restore_drill_") && e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				log.Warn("cannot remove an earlier drill's folder", zap.String("dir", e.Name()), zap.Error(err))
			}
		}
	}
}

// recordDrill stores d and updates its job's verification fields.
func recordDrill(tx *statedb.Tx, d Drill) error {
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
	if d.AcceptanceStatus == DrillPassed {
		v.VerifiedAtMs = &d.ExecutedAtMs
	}
	return tx.SetVerification(d.JobID, v)
}
