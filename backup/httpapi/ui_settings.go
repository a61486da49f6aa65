package httpapi

import (
	"net/http"
	"slices"

	"github.com/dockpack/dockpack/backup/settings"
)

// settingsField is one editable setting as the admin page renders it: its
// type and bounds, and where the daemon's configuration sets it (a setting
// given there is pinned: the page shows it read-only and says where to
// change it).
type settingsField struct {
	Name    string             `json:"name"`
	Type    settings.FieldType `json:"type"`
	Default any                `json:"default"`
	Min     int                `json:"min,omitempty"`
	Max     int                `json:"max,omitempty"`
	Choices []string           `json:"choices,omitempty"`
	Note    string             `json:"note,omitempty"`
	Flag    string             `json:"flag,omitempty"` // of dockpack serve, without "--"
	Env     string             `json:"env,omitempty"`
	YAML    string             `json:"yaml"` // the key in serve's configuration file
	Pinned  bool               `json:"pinned"`
}

// settingsFields serves GET /v1/settings/fields: the settings table (in
// the order of the settings), which fields are pinned, and the read-only
// fields the settings also show.
func (h *handler) settingsFields(w http.ResponseWriter, r *http.Request) {
	s, err := h.b.Settings(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []settingsField{}
	for _, f := range settings.Fields() {
		out = append(out, settingsField{Name: f.Name, Type: f.Type, Default: f.Default, Min: f.Min, Max: f.Max, Choices: f.Choices,
			Note: f.Note, Flag: f.Flag, Env: f.Env, YAML: "settings." + f.Name, Pinned: slices.Contains(s.PinnedFields, f.Name)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"fields": out, "read_only": readOnlySettings})
}
