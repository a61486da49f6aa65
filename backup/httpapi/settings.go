package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/backup/jobs"
)

// settingsField decodes one field of a settings PUT into the patch.
type settingsField func(p *jobs.SettingsPatch, name string, raw json.RawMessage) error

// settingsFields are the fields a settings PUT may change, by JSON name.
var settingsFields = map[string]settingsField{
	"enabled":                    boolField(func(p *jobs.SettingsPatch) **bool { return &p.Enabled }),
	"target_mode":                stringField(func(p *jobs.SettingsPatch) **string { return &p.TargetMode }),
	"target_local_dir":           stringField(func(p *jobs.SettingsPatch) **string { return &p.TargetLocalDir }),
	"ragflow_compose_path":       stringField(func(p *jobs.SettingsPatch) **string { return &p.RagflowComposePath }),
	"ragflow_project_name":       stringField(func(p *jobs.SettingsPatch) **string { return &p.RagflowProjectName }),
	"ragflow_stop_services":      boolField(func(p *jobs.SettingsPatch) **bool { return &p.RagflowStopServices }),
	"auth_db_path":               stringField(func(p *jobs.SettingsPatch) **string { return &p.AuthDBPath }),
	"full_backup_enabled":        boolField(func(p *jobs.SettingsPatch) **bool { return &p.FullBackupEnabled }),
	"full_backup_include_images": boolField(func(p *jobs.SettingsPatch) **bool { return &p.FullBackupIncludeImages }),
	"incremental_schedule":       scheduleField(func(p *jobs.SettingsPatch) ***string { return &p.IncrementalSchedule }),
	"full_backup_schedule":       scheduleField(func(p *jobs.SettingsPatch) ***string { return &p.FullBackupSchedule }),
	"backup_retention_max": func(p *jobs.SettingsPatch, name string, raw json.RawMessage) error {
		var n int
		if err := decodeValue(name, raw, &n, "an integer from 1 to 100"); err != nil {
			return err
		}
		p.BackupRetentionMax = &n
		return nil
	},
	"stop_services": func(p *jobs.SettingsPatch, name string, raw json.RawMessage) error {
		var ss []string
		if err := decodeValue(name, raw, &ss, "a list of compose service names"); err != nil {
			return err
		}
		if ss == nil {
			ss = []string{}
		}
		p.StopServices = &ss
		return nil
	},
}

// readOnlySettings are settings fields the GET shows but nobody sets.
var readOnlySettings = []string{
	"local_backup_target_path", "local_backup_pack_count", "last_run_at_ms", "updated_at_ms",
	"last_skipped_run_at_ms", "last_skipped_run_reason", "pinned_fields",
	"local_backup_pack_count_skipped", "windows_backup_target_path", "windows_backup_pack_count",
	"windows_backup_pack_count_skipped",
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// decodeValue decodes a non-null JSON value of one field.
func decodeValue(name string, raw json.RawMessage, v any, want string) error {
	if isNull(raw) {
		return reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("%s must not be null (want %s)", name, want))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("%s: %s is not %s", name, truncate(string(raw), 60), want))
	}
	return nil
}

func boolField(f func(*jobs.SettingsPatch) **bool) settingsField {
	return func(p *jobs.SettingsPatch, name string, raw json.RawMessage) error {
		var b bool
		if err := decodeValue(name, raw, &b, "true or false"); err != nil {
			return err
		}
		*f(p) = &b
		return nil
	}
}

func stringField(f func(*jobs.SettingsPatch) **string) settingsField {
	return func(p *jobs.SettingsPatch, name string, raw json.RawMessage) error {
		var s string
		if err := decodeValue(name, raw, &s, "a string"); err != nil {
			return err
		}
		*f(p) = &s
		return nil
	}
}

// scheduleField: a 5-field cron string, or null / "" to clear the schedule.
func scheduleField(f func(*jobs.SettingsPatch) ***string) settingsField {
	return func(p *jobs.SettingsPatch, name string, raw json.RawMessage) error {
		var v *string
		if !isNull(raw) {
			var s string
			if err := decodeValue(name, raw, &s, "a 5-field cron expression or null"); err != nil {
				return err
			}
			if s = strings.TrimSpace(s); s != "" {
				v = &s
			}
		}
		*f(p) = &v
		return nil
	}
}

// parseSettingsPatch decodes a settings PUT: any subset of the editable
// fields plus a required change_reason. Unknown and read-only fields are
// refused (400), never ignored.
func parseSettingsPatch(body []byte) (jobs.SettingsPatch, error) {
	var p jobs.SettingsPatch
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return p, reqErr(http.StatusBadRequest, CodeInvalidJSON, "the request body must be a JSON object with the settings to change and a change_reason")
	}
	var fields map[string]json.RawMessage
	if err := decodeStrict(body, &fields); err != nil {
		return p, err
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names) // deterministic: the first bad field (by name) is reported
	for _, name := range names {
		raw := fields[name]
		if name == "change_reason" {
			if isNull(raw) {
				continue
			}
			var s string
			if err := decodeValue(name, raw, &s, "a string"); err != nil {
				return p, err
			}
			p.ChangeReason = strings.TrimSpace(s)
			continue
		}
		if slices.Contains(readOnlySettings, name) {
			return p, reqErr(http.StatusBadRequest, CodeReadOnlyField+":"+name, fmt.Sprintf("%s is derived by the daemon and cannot be set", name))
		}
		set, ok := settingsFields[name]
		if !ok {
			return p, reqErr(http.StatusBadRequest, CodeUnknownField, fmt.Sprintf("unknown settings field %q", truncate(name, 60)))
		}
		if err := set(&p, name, raw); err != nil {
			return p, err
		}
	}
	if p.ChangeReason == "" {
		return p, reqErr(http.StatusBadRequest, CodeChangeReason, "a settings change needs a non-empty change_reason")
	}
	if len(p.ChangeReason) > maxReasonLen {
		return p, reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("change_reason is %d bytes long; at most %d are kept", len(p.ChangeReason), maxReasonLen))
	}
	return p, nil
}
