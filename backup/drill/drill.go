// Package drill proves a pack restorable the way RagFlowAuth's admin page
// asks for it: a restore drill verifies the pack (every file re-hashed,
// structure checked), compares its package hash with the job's, restores
// its SQLite snapshot into a staging folder (never the live database) and
// checks the copy. What goes wrong is a check in the drill's report
// (check.Check), never an error: the verdict is the drill's
// acceptance_status. The job system (jobs.Manager.RunDrill) holds the
// backup lock around it and records the drill.
package drill

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
)

// Acceptance statuses of a drill (acceptance_status, package_validation_status
// and the job's verification_status).
const (
	Passed  = "passed"
	Failed  = "failed"
	Blocked = "blocked" // the drill could not run to its end (pack unreachable, staging unusable, …)
)

// Request asks for a restore drill of a job's pack (RagFlowAuth's
// POST /restore-drills body).
type Request struct {
	JobID int64 `json:"job_id"`
	// BackupPath and BackupHash must equal the job's output_dir and package_hash.
	BackupPath string `json:"backup_path"`
	BackupHash string `json:"backup_hash"`
	// RestoreTarget names the staging subfolder the database is restored
	// into: free text, made a safe folder name by SanitizeRestoreTarget
	// (letters and digits of any script are kept); the drill records it as given.
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
func (r Request) Validate() error {
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

// MaxRestoreTargetBytes bounds the folder name SanitizeRestoreTarget makes.
const MaxRestoreTargetBytes = 64

// SanitizeRestoreTarget turns a restore_target (free text, RagFlowAuth's
// 演练目标标识) into a single safe folder name: NFC-normalised; letters and
// digits of any script, '.', '_' and '-' are kept, any other character
// (path separators included) becomes '_'; dots at the ends are removed; at
// most MaxRestoreTargetBytes bytes (whole characters). "演练环境" stays
// "演练环境", "../x y" becomes "_x_y". A name without a letter or digit is
// an error wrapping ErrInvalidSpec.
func SanitizeRestoreTarget(s string) (string, error) {
	var b strings.Builder
	for _, r := range norm.NFC.String(strings.TrimSpace(s)) {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-') {
			r = '_' // path separators too: the name stays one folder
		}
		if b.Len()+utf8.RuneLen(r) > MaxRestoreTargetBytes {
			break
		}
		b.WriteRune(r)
	}
	out := strings.Trim(b.String(), ".")
	if !strings.ContainsFunc(out, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
		return "", fmt.Errorf("%w: invalid_restore_target: %q names no folder (use letters or digits)", backup.ErrInvalidSpec, s)
	}
	return out, nil
}

// Report is a drill's verification_report.
type Report struct {
	Checks []check.Check `json:"checks"`
	// Failed names the failing checks ("volumes/x.tar: expected …").
	Failed     []string `json:"failed,omitempty"`
	Bytes      int64    `json:"bytes_verified"`
	DurationMs int64    `json:"duration_ms"`
}

// Drill is one restore drill, with RagFlowAuth's JSON field names.
type Drill struct {
	DrillID                 string  `json:"drill_id"`
	JobID                   int64   `json:"job_id"`
	BackupPath              string  `json:"backup_path"`
	BackupHash              string  `json:"backup_hash"`
	ActualBackupHash        string  `json:"actual_backup_hash"`
	HashMatch               bool    `json:"hash_match"`
	RestoreTarget           string  `json:"restore_target"`
	RestoredAuthDBPath      *string `json:"restored_auth_db_path"`
	RestoredAuthDBHash      *string `json:"restored_auth_db_hash"`
	CompareMatch            bool    `json:"compare_match"`
	PackageValidationStatus string  `json:"package_validation_status"` // passed | failed | blocked
	AcceptanceStatus        string  `json:"acceptance_status"`         // passed | failed | blocked
	ExecutedBy              string  `json:"executed_by"`
	ExecutedAtMs            int64   `json:"executed_at_ms"`
	Result                  string  `json:"result"` // success | failed
	VerificationNotes       *string `json:"verification_notes"`
	VerificationReport      Report  `json:"verification_report"`
	Reason                  string  `json:"reason"`
}

// NewID is a new drill id, restore_drill_<16 hex digits>.
func NewID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "restore_drill_" + hex.EncodeToString(b)
}

// Normalize makes a drill read back from storage current: drills recorded
// before the report used check.Check named their checks' statuses passed,
// failed and skipped.
func (d *Drill) Normalize() {
	if d.VerificationReport.Checks == nil {
		d.VerificationReport.Checks = []check.Check{}
	}
	for i, c := range d.VerificationReport.Checks {
		switch c.Status {
		case "passed":
			d.VerificationReport.Checks[i].Status = check.OK
		case "failed":
			d.VerificationReport.Checks[i].Status = check.Fail
		case "skipped":
			d.VerificationReport.Checks[i].Status = check.Skip
		}
	}
}
