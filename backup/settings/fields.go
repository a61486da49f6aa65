package settings

import (
	"reflect"
	"slices"

	"github.com/dockpack/dockpack/backup/pack"
)

// The settings field table: the one place that lists the daemon's editable
// settings. Everything else derives from it: the JSON names a PUT may set
// and Pinned may name (Editable), the decoding and normalizing of a
// Patch, validation, the defaults, the state DB's settings rows (one
// per field, keyed by Name) and the options of `dockpack serve` (the flag,
// the environment variable and the YAML key settings.<Name>).
//
// Adding a setting is one entry here plus its field in Settings (settings.go),
// whose json tag must be the entry's Name.

// FieldType is the kind of value a setting holds; it decides the Go type of
// its Settings field, how it is decoded, normalized and validated.
type FieldType string

// Setting types, with the Go type of their Settings field.
const (
	TypeBool     FieldType = "bool"     // bool
	TypeString   FieldType = "string"   // string, trimmed
	TypeChoice   FieldType = "choice"   // string, one of Field.Choices
	TypePath     FieldType = "path"     // string: "" or an absolute path (cleaned)
	TypeProject  FieldType = "project"  // string: "" or a compose project name
	TypeSchedule FieldType = "schedule" // *string: a 5-field cron expression; null (or "") = none
	TypeInt      FieldType = "int"      // int in Field.Min..Field.Max
	TypeServices FieldType = "services" // []string: compose service names, each once
	TypeTarget   FieldType = "target"   // string: "" or an absolute path (cleaned) or s3://bucket/prefix
	TypeEndpoint FieldType = "endpoint" // string: "" or an http(s) URL without user info, query or fragment
)

// Field is one editable setting.
type Field struct {
	Name    string    // JSON name: the PUT body's key, the settings row's key, the YAML key under settings:
	Type    FieldType // how the value is decoded, normalized and checked
	Default any       // value in Default (nil: the zero value); also fills a zero non-bool value
	Min     int       // TypeInt: smallest accepted value
	Max     int       // TypeInt: largest accepted value
	Choices []string  // TypeChoice: the accepted values
	Note    string    // appended to a validation problem, in parentheses
	Flag    string    // flag of dockpack serve (given, it pins the setting)
	Env     string    // environment variable of dockpack serve (given, it pins the setting)
	Usage   string    // help text of the flag

	value func(*Settings) any // the address of the setting's field in a Settings
}

// table is the field table, in the order of Settings' fields.
var table = []Field{
	{Name: "enabled", Type: TypeBool, Default: true,
		Flag: "backups-enabled", Env: "DOCKPACK_BACKUPS_ENABLED", Usage: "scheduled backups run",
		value: func(s *Settings) any { return &s.Enabled }},
	{Name: "target_mode", Type: TypeChoice, Default: DefaultTargetMode, Choices: []string{"local", "share"},
		Note: "both mean target_local_dir, a directory on the mounted share",
		Flag: "target-mode", Env: "DOCKPACK_TARGET_MODE", Usage: "local or share",
		value: func(s *Settings) any { return &s.TargetMode }},
	{Name: "target_local_dir", Type: TypeTarget,
		Flag: "target", Env: "DOCKPACK_TARGET", Usage: "directory on the mounted share that receives packs, or s3://bucket/prefix (object storage: s3_* settings)",
		value: func(s *Settings) any { return &s.TargetLocalDir }},
	{Name: "s3_endpoint", Type: TypeEndpoint,
		Note: "credentials never go here: s3_credentials_file, s3_profile or the AWS_* variables",
		Flag: "s3-endpoint", Env: "DOCKPACK_S3_ENDPOINT", Usage: "endpoint of the S3-compatible service of an s3:// target (default $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)",
		value: func(s *Settings) any { return &s.S3Endpoint }},
	{Name: "s3_region", Type: TypeString,
		Flag: "s3-region", Env: "DOCKPACK_S3_REGION", Usage: "region of an s3:// target (default $AWS_REGION or the profile's, else us-east-1)",
		value: func(s *Settings) any { return &s.S3Region }},
	{Name: "s3_profile", Type: TypeString,
		Flag: "s3-profile", Env: "DOCKPACK_S3_PROFILE", Usage: "profile of the shared AWS config and credentials files for an s3:// target (default $AWS_PROFILE)",
		value: func(s *Settings) any { return &s.S3Profile }},
	{Name: "s3_credentials_file", Type: TypePath,
		Note: "the secrets stay in that file (mode 0600); the state DB holds only its path",
		Flag: "s3-credentials-file", Env: "DOCKPACK_S3_CREDENTIALS_FILE", Usage: "shared credentials file of an s3:// target (default $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)",
		value: func(s *Settings) any { return &s.S3CredentialsFile }},
	{Name: "ragflow_compose_path", Type: TypePath,
		Flag: "compose-file", Env: "DOCKPACK_COMPOSE_FILE", Usage: "the stack's compose file",
		value: func(s *Settings) any { return &s.RagflowComposePath }},
	{Name: "ragflow_project_name", Type: TypeProject,
		Flag: "project", Env: "DOCKPACK_PROJECT", Usage: "compose project name",
		value: func(s *Settings) any { return &s.RagflowProjectName }},
	{Name: "ragflow_stop_services", Type: TypeBool,
		Flag: "stop-all", Env: "DOCKPACK_STOP_ALL", Usage: "stop the project's running services during the volume step",
		value: func(s *Settings) any { return &s.RagflowStopServices }},
	{Name: "auth_db_path", Type: TypePath,
		Flag: "sqlite", Env: "DOCKPACK_SQLITE", Usage: "the application's SQLite database",
		value: func(s *Settings) any { return &s.AuthDBPath }},
	{Name: "full_backup_enabled", Type: TypeBool, Default: true,
		Flag: "full-backup-enabled", Env: "DOCKPACK_FULL_BACKUP_ENABLED",
		value: func(s *Settings) any { return &s.FullBackupEnabled }},
	{Name: "full_backup_include_images", Type: TypeBool, Default: true,
		Flag: "full-backup-include-images", Env: "DOCKPACK_FULL_BACKUP_INCLUDE_IMAGES",
		value: func(s *Settings) any { return &s.FullBackupIncludeImages }},
	{Name: "incremental_schedule", Type: TypeSchedule,
		Flag: "incremental-schedule", Env: "DOCKPACK_INCREMENTAL_SCHEDULE", Usage: `5-field cron ("" = none)`,
		value: func(s *Settings) any { return &s.IncrementalSchedule }},
	{Name: "full_backup_schedule", Type: TypeSchedule,
		Flag: "full-backup-schedule", Env: "DOCKPACK_FULL_BACKUP_SCHEDULE", Usage: `5-field cron ("" = none)`,
		value: func(s *Settings) any { return &s.FullBackupSchedule }},
	{Name: "backup_retention_max", Type: TypeInt, Default: DefaultRetentionMax, Min: 1, Max: 100,
		Flag: "backup-retention-max", Env: "DOCKPACK_BACKUP_RETENTION_MAX", Usage: "packs kept (1-100)",
		value: func(s *Settings) any { return &s.BackupRetentionMax }},
	{Name: "stop_services", Type: TypeServices, Default: []string{},
		Flag: "stop", Env: "DOCKPACK_STOP", Usage: "compose services stopped during the volume step, comma-separated",
		value: func(s *Settings) any { return &s.StopServices }},
	{Name: "stop_app_services", Type: TypeServices, Default: []string{},
		Note: "docs/consistency.md: the dependents are read from the compose model",
		Flag: "stop-app", Env: "DOCKPACK_STOP_APP", Usage: "compose services stopped during the volume step together with every service that depends on them, dependents first, comma-separated",
		value: func(s *Settings) any { return &s.StopAppServices }},
	{Name: "strict_mounts", Type: TypeBool,
		Flag: "strict", Env: "DOCKPACK_STRICT", Usage: "refuse a pack that leaves out any mount: bind mounts not captured, anonymous volumes",
		value: func(s *Settings) any { return &s.StrictMounts }},
	{Name: "bind_max_mib", Type: TypeInt, Default: DefaultBindMaxMiB, Min: 1, Max: 1 << 20,
		Flag: "bind-max-mib", Env: "DOCKPACK_BIND_MAX_MIB", Usage: "largest bind-mounted file or directory of the compose file captured into a pack (binds/), in MiB; a larger one is left out with a warning",
		value: func(s *Settings) any { return &s.BindMaxMiB }},
	{Name: "restore_stop_services", Type: TypeServices, Default: []string{},
		Flag: "restore-stop", Env: "DOCKPACK_RESTORE_STOP",
		Usage: `containers stopped while a real restore replaces the live database, comma-separated: a container name, or label:KEY=VALUE (any project; default: the backup's stop list)`,
		value: func(s *Settings) any { return &s.RestoreStopServices }},
	{Name: "pack_mode", Type: TypeChoice, Default: pack.Modes[0], Choices: pack.Modes,
		Note: "a pack holds the application's credentials; on CIFS the mount options decide the effective mode",
		Flag: "pack-mode", Env: "DOCKPACK_PACK_MODE", Usage: "mode of a pack's files: 0600 (default), 0640 or 0644; directories get the same read bits",
		value: func(s *Settings) any { return &s.PackMode }},
	{Name: "pack_format", Type: TypeChoice, Default: PackFormats[0], Choices: PackFormats,
		Note: "store writes only what changed since the packs before (format 2); classic packs stay readable",
		Flag: "pack-format", Env: "DOCKPACK_PACK_FORMAT", Usage: "pack format: classic (every file in full, default) or store (chunks in the target's pack store)",
		value: func(s *Settings) any { return &s.PackFormat }},
	{Name: "age_recipients_file", Type: TypePath,
		Note: "public keys only (age1…, one a line); the state DB holds only the file's path; both pack formats — a store keeps its naming key in the state dir's naming-keys/ (docs/encryption.md)",
		Flag: "age-recipients-file", Env: "DOCKPACK_AGE_RECIPIENTS_FILE", Usage: "seal every pack the daemon writes to the age recipients in this file (one age1… a line, # comments; both pack formats)",
		value: func(s *Settings) any { return &s.AgeRecipientsFile }},
	{Name: "age_identity_file", Type: TypePath,
		Note: "the secret keys stay in that file (mode 0600); the state DB holds only its path",
		Flag: "age-identity", Env: "DOCKPACK_AGE_IDENTITY", Usage: "age identity file (age-keygen's output) that opens sealed packs for drills, background verification and the real restore of the live database",
		value: func(s *Settings) any { return &s.AgeIdentityFile }},
	{Name: "require_encryption", Type: TypeBool,
		Note: "without age_recipients_file every backup is refused: nothing is written in plaintext",
		Flag: "require-encryption", Env: "DOCKPACK_REQUIRE_ENCRYPTION", Usage: "refuse to write a pack that is not sealed (needs age_recipients_file)",
		value: func(s *Settings) any { return &s.RequireEncryption }},
	{Name: "copy_target", Type: TypeTarget,
		Note: "a failed copy does not fail the backup; it is in the job's log (docs/object-storage.md)",
		Flag: "copy-target", Env: "DOCKPACK_COPY_TARGET", Usage: "copy each completed pack to this second target (a directory or s3://bucket/prefix, same s3_* settings), verified on arrival; empty: none",
		value: func(s *Settings) any { return &s.CopyTarget }},
}

// PackFormats are the values of pack_format (backup.FormatClassic, backup.FormatStore).
var PackFormats = []string{"classic", "store"}

// Defaults of the settings.
const (
	DefaultRetentionMax = 30
	// DefaultBindMaxMiB is bind_max_mib's default (backup.Spec.BindLimit's).
	DefaultBindMaxMiB = 64
	DefaultTargetMode = "local"
)

// editableSettings are the JSON names of the settings UpdateSettings can change.
var editable = func() []string {
	names := make([]string, len(table))
	for i, f := range table {
		names[i] = f.Name
	}
	return names
}()

// Editable returns the JSON names of the settings a PUT may change
// (and jobs.Config.Pinned may name), in the table's order.
func Editable() []string { return slices.Clone(editable) }

// SettingsFields returns the settings field table.
func Fields() []Field { return slices.Clone(table) }

// Lookup returns the field of the setting with this JSON name.
func Lookup(name string) (Field, bool) {
	i := slices.IndexFunc(table, func(f Field) bool { return f.Name == name })
	if i < 0 {
		return Field{}, false
	}
	return table[i], true
}

// Default are the settings of a fresh state DB when the
// configuration gives nothing else: each field's Default (scheduled runs
// enabled but no schedule set, full backups enabled and including images,
// 30 packs kept).
func Default() Settings {
	var s Settings
	for _, f := range table {
		if f.Default != nil {
			f.ref(&s).Set(reflect.ValueOf(f.Default))
		}
	}
	s.normalize() // fresh copies: no two Settings share a default slice
	return s
}

// ApplyDefaults fills zero values that are not values (0, "", nil; a false
// bool is a value) with the field's Default, then normalizes.
func (s *Settings) ApplyDefaults() {
	for _, f := range table {
		if v := f.ref(s); f.Default != nil && f.Type != TypeBool && v.IsZero() {
			v.Set(reflect.ValueOf(f.Default))
		}
	}
	s.normalize()
}

// ref is the setting's field in s.
func (f Field) ref(s *Settings) reflect.Value { return reflect.ValueOf(f.value(s)).Elem() }
