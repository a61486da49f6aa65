package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/settings"
)

// RagFlowAuth's settings as its page and older pages send them, mapped onto
// dockpack's: the fields RagFlowAuth stores but that affect nothing there
// either (its replica and SMB-target fields, interval_minutes) are accepted
// on the compat route and ignored — never a 400 — and the GET shows their
// RagFlowAuth defaults. Fields that are not RagFlowAuth's still get 400.

// legacySettings are RagFlowAuth's settings dockpack accepts and ignores,
// with the value its GET shows (RagFlowAuth's defaults).
var legacySettings = map[string]any{
	"interval_minutes":      1440,
	"target_ip":             "",
	"target_share_name":     "",
	"target_subdir":         "",
	"replica_enabled":       false,
	"replica_target_path":   "",
	"replica_subdir_format": "flat",
}

// compatConstants are fields RagFlowAuth's GET has and dockpack's settings do
// not (dockpack has no Windows replica).
var compatConstants = map[string]any{
	"local_backup_pack_count_skipped":   false,
	"windows_backup_target_path":        "",
	"windows_backup_pack_count":         0,
	"windows_backup_pack_count_skipped": false,
}

// ragflowDefaultAuthDB is what RagFlowAuth's advanced settings form sends
// as auth_db_path when the GET had none.
const ragflowDefaultAuthDB = "data/auth.db"

// compatSettingsJSON is the settings as RagFlowAuth's page reads them.
func compatSettingsJSON(s settings.Settings) (map[string]any, error) {
	b, err := json.Marshal(s)
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	maps.Copy(m, legacySettings)
	maps.Copy(m, compatConstants)
	return m, nil
}

// compatSettingsBody drops what RagFlowAuth's pages send that dockpack
// ignores: the legacy fields, and the default auth_db_path its form echoes
// when no database is configured. A body that is not a JSON object is left
// for parseSettingsPatch to refuse.
func (h *handler) compatSettingsBody(ctx context.Context, body []byte) []byte {
	var fields map[string]json.RawMessage
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' || json.Unmarshal(body, &fields) != nil {
		return body
	}
	var dropped []string
	for k := range fields {
		if _, ok := legacySettings[k]; ok {
			delete(fields, k)
			dropped = append(dropped, k)
		}
	}
	if raw, ok := fields["auth_db_path"]; ok {
		var p string
		if json.Unmarshal(raw, &p) == nil && strings.TrimSpace(p) != "" && !filepath.IsAbs(strings.TrimSpace(p)) {
			if s, err := h.b.Settings(ctx); err == nil && s.AuthDBPath == "" && strings.TrimSpace(p) == ragflowDefaultAuthDB {
				delete(fields, "auth_db_path")
				dropped = append(dropped, "auth_db_path")
			}
		}
	}
	if len(dropped) == 0 {
		return body
	}
	slices.Sort(dropped)
	h.log.Debug("RagFlowAuth settings accepted and ignored", zap.Strings("fields", dropped))
	out, err := json.Marshal(fields)
	if err != nil {
		return body
	}
	return out
}
