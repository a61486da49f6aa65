package settings_test

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/settings"
)

// derivedSettings are the Settings fields the daemon computes: not in the table.
var derivedSettings = []string{
	"local_backup_target_path", "local_backup_pack_count", "local_backup_pack_count_skipped", "last_run_at_ms",
	"updated_at_ms", "last_skipped_run_at_ms", "last_skipped_run_reason", "pinned_fields",
}

func TestSettingsFieldTable(t *testing.T) {
	fields := settings.Fields()
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
		if f.Flag == "" || !strings.HasPrefix(f.Env, "DOCKPACK_") || f.Want() == "" {
			t.Errorf("%s: flag %q env %q want %q", f.Name, f.Flag, f.Env, f.Want())
		}
		if g, ok := settings.Lookup(f.Name); !ok || g.Name != f.Name {
			t.Errorf("LookupSetting(%q) = %v %v", f.Name, g.Name, ok)
		}
		if f.Nullable() != (f.Type == settings.TypeSchedule) {
			t.Errorf("%s: nullable %v", f.Name, f.Nullable())
		}
	}
	if !slices.Equal(names, settings.Editable()) {
		t.Errorf("table %v, editable %v", names, settings.Editable())
	}
	if _, ok := settings.Lookup("local_backup_pack_count"); ok {
		t.Error("a derived field is in the table")
	}
	// Every field of Settings is in the table or derived.
	b, _ := json.Marshal(settings.Settings{})
	var all map[string]json.RawMessage
	_ = json.Unmarshal(b, &all)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if !slices.Contains(names, k) && !slices.Contains(derivedSettings, k) {
			t.Errorf("Settings field %s is neither in the settings table nor derived", k)
		}
	}
	// The defaults come from the table.
	d := settings.Default()
	if !d.Enabled || d.TargetMode != "local" || d.BackupRetentionMax != 30 || !d.FullBackupEnabled || !d.FullBackupIncludeImages ||
		d.RagflowStopServices || d.StopServices == nil || len(d.StopServices) != 0 || d.IncrementalSchedule != nil {
		t.Errorf("defaults %+v", d)
	}
}

func TestSettingsPatchSet(t *testing.T) {
	var p settings.Patch
	for name, v := range map[string]any{
		"incremental_schedule": " 0  3 * * * ",
		"full_backup_schedule": json.RawMessage(`null`),
		"stop_services":        []string{" web", "", "worker"},
		"auth_db_path":         json.RawMessage(`"/srv/./auth.db"`),
		"enabled":              false,
		"backup_retention_max": 7,
	} {
		if err := p.Set(name, v); err != nil {
			t.Errorf("Set(%s, %v): %v", name, v, err)
		}
	}
	want := map[string]string{"incremental_schedule": `"0 3 * * *"`, "full_backup_schedule": `null`, "stop_services": `["web","worker"]`,
		"auth_db_path": `"/srv/auth.db"`, "enabled": `false`, "backup_retention_max": `7`}
	for k, v := range want {
		if string(p.Values[k]) != v {
			t.Errorf("Values[%s] = %s, want %s", k, p.Values[k], v)
		}
	}
	// Refused: an unknown name, null where null is no value, another type.
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"interval_minutes", 5}, {"local_backup_pack_count", 1},
		{"enabled", nil}, {"backup_retention_max", nil}, {"stop_services", json.RawMessage(`null`)},
		{"enabled", "yes"}, {"backup_retention_max", 30.5}, {"backup_retention_max", "30"}, {"stop_services", "web"},
		{"incremental_schedule", 5}, {"target_local_dir", true}, {"target_mode", []string{"local"}},
	} {
		var q settings.Patch
		err := q.Set(tc.name, tc.v)
		var se *settings.Error
		if !errors.As(err, &se) || se.Field != tc.name || !errors.Is(err, settings.ErrInvalid) || len(q.Values) != 0 {
			t.Errorf("Set(%s, %#v) = %v, values %v", tc.name, tc.v, err, q.Values)
		}
	}
}

func TestSettingsPatchApply(t *testing.T) {
	base := settings.Default()
	base.IncrementalSchedule = new("0 1 * * *")
	base.StopServices = []string{"web"}
	p := settings.Patch{Values: map[string]json.RawMessage{
		"incremental_schedule": json.RawMessage(`"0 2 * * *"`),
		"stop_services":        json.RawMessage(`["db"]`),
		"enabled":              json.RawMessage(`true`), // the value it has: no change
		"target_local_dir":     json.RawMessage(` " /mnt/x/ " `),
	}}
	next, changed, err := p.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"target_local_dir", "incremental_schedule", "stop_services"}) {
		t.Errorf("changed %v", changed)
	}
	if *next.IncrementalSchedule != "0 2 * * *" || next.TargetLocalDir != "/mnt/x" || !slices.Equal(next.StopServices, []string{"db"}) {
		t.Errorf("applied %+v", next)
	}
	// The patch never writes through base's pointers.
	if *base.IncrementalSchedule != "0 1 * * *" || base.StopServices[0] != "web" {
		t.Errorf("base changed: %+v", base)
	}
	// An unknown name or a mistyped value: a *Error, nothing applied.
	for _, vals := range []map[string]json.RawMessage{
		{"enabled": json.RawMessage(`false`), "replica_enabled": json.RawMessage(`true`)},
		{"enabled": json.RawMessage(`false`), "backup_retention_max": json.RawMessage(`"ten"`)},
	} {
		got, _, err := settings.Patch{Values: vals}.Apply(base)
		if !errors.Is(err, settings.ErrInvalid) || !reflect.DeepEqual(got, base) {
			t.Errorf("Apply(%v) = %v", vals, err)
		}
	}
}
