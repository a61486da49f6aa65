package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/backup/settings"
)

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
	if isNull(raw) || json.NewDecoder(bytes.NewReader(raw)).Decode(v) != nil {
		return valueError(name, raw, want)
	}
	return nil
}

// valueError is the 400 for a null or mistyped value of one field.
func valueError(name string, raw json.RawMessage, want string) error {
	if isNull(raw) {
		return reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("%s must not be null (want %s)", name, want))
	}
	return reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("%s: %s is not %s", name, truncate(string(raw), 60), want))
}

// parseSettingsPatch decodes a settings PUT: any subset of the editable
// fields plus a required change_reason. The fields, their types and what
// null means come from the settings table (jobs.LookupSetting). Unknown and
// read-only fields are refused (400), never ignored.
func parseSettingsPatch(body []byte) (settings.Patch, error) {
	var p settings.Patch
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
		f, ok := settings.Lookup(name)
		if !ok {
			return p, reqErr(http.StatusBadRequest, CodeUnknownField, fmt.Sprintf("unknown settings field %q", truncate(name, 60)))
		}
		if err := p.Set(name, raw); err != nil { // null (unless it clears a schedule) or another type
			return p, valueError(name, raw, f.Want())
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
