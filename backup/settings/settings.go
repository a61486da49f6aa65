// Package settings is the daemon's editable settings as ONE field table
// (fields.go): the JSON names, the defaults, the validation, the
// patch decoding of a PUT body, the storage rows by name, and the YAML keys,
// flags and environment variables of `dockpack serve` all derive from it.
// Adding a setting is one table entry plus its field in Settings.
package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/robfig/cron/v3"
)

// Settings are the daemon's editable settings (stored in the state DB) with
// RagFlowAuth's field names, plus derived read-only stats.
type Settings struct {
	Enabled        bool   `json:"enabled"`
	TargetMode     string `json:"target_mode"`      // "local" | "share": both mean TargetLocalDir, a mounted directory
	TargetLocalDir string `json:"target_local_dir"` // a mounted directory, or s3://bucket/prefix
	// S3Endpoint, S3Region, S3Profile and S3CredentialsFile reach an
	// s3:// target (empty: the AWS variables and files). No secret is a
	// setting: the credentials stay in the credentials file or the
	// process's environment, never in the state DB.
	S3Endpoint              string  `json:"s3_endpoint"`
	S3Region                string  `json:"s3_region"`
	S3Profile               string  `json:"s3_profile"`
	S3CredentialsFile       string  `json:"s3_credentials_file"`
	RagflowComposePath      string  `json:"ragflow_compose_path"`
	RagflowProjectName      string  `json:"ragflow_project_name"`
	RagflowStopServices     bool    `json:"ragflow_stop_services"`
	AuthDBPath              string  `json:"auth_db_path"`
	FullBackupEnabled       bool    `json:"full_backup_enabled"`
	FullBackupIncludeImages bool    `json:"full_backup_include_images"`
	IncrementalSchedule     *string `json:"incremental_schedule"`
	FullBackupSchedule      *string `json:"full_backup_schedule"`
	BackupRetentionMax      int     `json:"backup_retention_max"`
	// StopServices names services stopped around the volume step (native).
	StopServices []string `json:"stop_services"`
	// RestoreStopServices names the containers a real restore of the live
	// database stops (a container name, or label:KEY=VALUE; any project);
	// empty: the backup's stop list (StopServices, RagflowStopServices).
	RestoreStopServices []string `json:"restore_stop_services"`
	// StopAppServices are services stopped around the volume step with
	// every service that depends on them (backup.Spec.StopApps).
	StopAppServices []string `json:"stop_app_services"`
	// StrictMounts refuses a pack that leaves out any mount (backup.Spec.Strict).
	StrictMounts bool `json:"strict_mounts"`
	// BindMaxMiB bounds a bind mount captured into a pack, in MiB
	// (backup.Spec.BindLimit).
	BindMaxMiB int `json:"bind_max_mib"`
	// PackMode is the mode of a pack's files (pack.Modes; default 0600).
	PackMode string `json:"pack_mode"`
	// PackFormat is the pack format of the daemon's backups: "classic"
	// (default) or "store" (PackFormats).
	PackFormat string `json:"pack_format"`
	// AgeRecipientsFile names a file of age recipients (public keys) every
	// pack is sealed to (backup.Spec.Seal; classic packs only). The
	// state DB holds the path, never a key.
	AgeRecipientsFile string `json:"age_recipients_file"`
	// AgeIdentityFile names the age identity file (secret keys, kept in
	// that file) that opens sealed packs for drills, background
	// verification and the real restore of the live database.
	AgeIdentityFile string `json:"age_identity_file"`
	// RequireEncryption refuses to write a pack that is not sealed
	// (backup.Spec.RequireEncryption).
	RequireEncryption bool `json:"require_encryption"`
	// CopyTarget is a second target (a directory or s3://bucket/prefix)
	// each completed pack is copied to, verified on arrival; "" = none.
	CopyTarget string `json:"copy_target"`

	// Derived, read-only.
	LocalBackupTargetPath string `json:"local_backup_target_path"`
	LocalBackupPackCount  int    `json:"local_backup_pack_count"`
	// LocalBackupPackCountSkipped: the target could not be listed in time
	// (hung or missing mount), so the count is not known.
	LocalBackupPackCountSkipped bool     `json:"local_backup_pack_count_skipped"`
	LastRunAtMs                 *int64   `json:"last_run_at_ms"`
	UpdatedAtMs                 int64    `json:"updated_at_ms"`
	LastSkippedRunAtMs          *int64   `json:"last_skipped_run_at_ms"`
	LastSkippedRunReason        string   `json:"last_skipped_run_reason"`
	PinnedFields                []string `json:"pinned_fields"`
}

// ErrInvalid: a settings value or update is not acceptable.
var ErrInvalid = errors.New("invalid_settings")

// Error says which setting is unacceptable and why. It matches ErrInvalid.
type Error struct {
	Field   string // JSON name ("change_reason" for a missing reason)
	Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid_settings: %s: %s", e.Field, e.Problem)
}

// Is makes Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// ComposeProjectName turns a compose file's path, or a directory, or any
// name, into a compose project name the way compose does: the directory's
// base name, lowercased, keeping only [a-z0-9_-], without leading '_' or '-'.
// A path ending in .yml/.yaml (or naming a regular file) stands for its directory.
func ComposeProjectName(pathOrName string) string {
	p := strings.TrimSpace(pathOrName)
	if p == "" {
		return ""
	}
	if strings.ContainsRune(p, '/') {
		p = filepath.Clean(p)
		ext := strings.ToLower(filepath.Ext(p))
		if ext == ".yml" || ext == ".yaml" {
			p = filepath.Dir(p)
		} else if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			p = filepath.Dir(p)
		}
		p = filepath.Base(p)
	}
	var b strings.Builder
	for _, r := range strings.ToLower(p) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}

// CronParser parses the 5-field cron expressions of the schedules.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ErrSchedule marks a schedule expression that is not a 5-field cron expression.
var ErrSchedule = errors.New("invalid schedule")

// ParseSchedule parses a 5-field cron expression (minute hour day-of-month
// month day-of-week); descriptors such as @daily and TZ= prefixes are refused
// (the time zone is the daemon's configuration).
func ParseSchedule(expr string) (cron.Schedule, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "@") || strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
		return nil, fmt.Errorf("%w: %q: give 5 cron fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\"", ErrSchedule, expr)
	}
	if n := len(strings.Fields(e)); n != 5 {
		return nil, fmt.Errorf("%w: %q has %d fields, want 5 (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\"", ErrSchedule, expr, n)
	}
	s, err := CronParser.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrSchedule, expr, err)
	}
	return s, nil
}
