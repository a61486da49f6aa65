package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"go.uber.org/zap"
)

// Settings storage: one row per editable setting in the settings table, keyed
// by its JSON name, valued by its JSON encoding. The state DB is
// authoritative for what the UI edits; ManagerConfig.Settings only seeds
// settings not stored yet, except pinned ones, which are rewritten from the
// configuration at every start and cannot be changed by UpdateSettings.

// editableSettings are the JSON names of the settings UpdateSettings can change.
var editableSettings = []string{
	"enabled", "target_mode", "target_local_dir", "ragflow_compose_path", "ragflow_project_name",
	"ragflow_stop_services", "auth_db_path", "full_backup_enabled", "full_backup_include_images",
	"incremental_schedule", "full_backup_schedule", "backup_retention_max", "stop_services",
}

// EditableSettings returns the JSON names of the settings a PUT may change
// (and ManagerConfig.Pinned may name).
func EditableSettings() []string { return slices.Clone(editableSettings) }

// Defaults of the settings.
const (
	DefaultRetentionMax = 30
	DefaultTargetMode   = "local"
)

// DefaultSettings are the settings of a fresh state DB when the
// configuration gives nothing else: scheduled runs enabled (but no schedule
// set), full backups enabled and including images, 30 packs kept.
func DefaultSettings() Settings {
	return Settings{
		Enabled:                 true,
		TargetMode:              DefaultTargetMode,
		FullBackupEnabled:       true,
		FullBackupIncludeImages: true,
		BackupRetentionMax:      DefaultRetentionMax,
		StopServices:            []string{},
	}
}

func (s *Settings) applyDefaults() {
	if s.BackupRetentionMax == 0 {
		s.BackupRetentionMax = DefaultRetentionMax
	}
	if s.TargetMode == "" {
		s.TargetMode = DefaultTargetMode
	}
	if s.StopServices == nil {
		s.StopServices = []string{}
	}
	s.normalize()
}

// normalize trims strings, cleans paths and turns empty schedules into null.
func (s *Settings) normalize() {
	s.TargetMode = strings.TrimSpace(s.TargetMode)
	for _, p := range []*string{&s.TargetLocalDir, &s.RagflowComposePath, &s.AuthDBPath} {
		*p = strings.TrimSpace(*p)
		if *p != "" && filepath.IsAbs(*p) {
			*p = filepath.Clean(*p)
		}
	}
	s.RagflowProjectName = strings.TrimSpace(s.RagflowProjectName)
	for _, p := range []**string{&s.IncrementalSchedule, &s.FullBackupSchedule} {
		if *p != nil {
			v := strings.Join(strings.Fields(**p), " ")
			if v == "" {
				*p = nil
			} else {
				*p = &v
			}
		}
	}
	svcs := []string{}
	for _, v := range s.StopServices {
		if v = strings.TrimSpace(v); v != "" {
			svcs = append(svcs, v)
		}
	}
	s.StopServices = svcs
}

// SettingsError says which setting is unacceptable and why. It matches ErrInvalidSettings.
type SettingsError struct {
	Field   string // JSON name ("change_reason" for a missing reason)
	Problem string
}

func (e *SettingsError) Error() string {
	return fmt.Sprintf("invalid_settings: %s: %s", e.Field, e.Problem)
}

// Is makes SettingsError match ErrInvalidSettings.
func (e *SettingsError) Is(target error) bool { return target == ErrInvalidSettings }

// validateSettings checks every editable setting; the error joins a
// *SettingsError per problem.
func validateSettings(s Settings) error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, &SettingsError{Field: field, Problem: fmt.Sprintf(format, a...)})
	}
	if s.BackupRetentionMax < 1 || s.BackupRetentionMax > 100 {
		bad("backup_retention_max", "%d is outside 1..100", s.BackupRetentionMax)
	}
	if s.TargetMode != "local" && s.TargetMode != "share" {
		bad("target_mode", "%q is neither \"local\" nor \"share\" (both mean target_local_dir, a directory on the mounted share)", s.TargetMode)
	}
	for field, p := range map[string]string{"target_local_dir": s.TargetLocalDir, "ragflow_compose_path": s.RagflowComposePath, "auth_db_path": s.AuthDBPath} {
		if p != "" && !filepath.IsAbs(p) {
			bad(field, "%q is not an absolute path", p)
		}
	}
	if n := s.RagflowProjectName; n != "" && ComposeProjectName(n) != n {
		bad("ragflow_project_name", "%q is not a compose project name (lowercase letters, digits, '_' and '-', starting with a letter or digit; e.g. %q)",
			n, ComposeProjectName(n))
	}
	for field, sch := range map[string]*string{"incremental_schedule": s.IncrementalSchedule, "full_backup_schedule": s.FullBackupSchedule} {
		if sch == nil {
			continue
		}
		if _, err := ParseSchedule(*sch); err != nil {
			bad(field, "%v", err)
		}
	}
	seen := map[string]bool{}
	for _, v := range s.StopServices {
		if seen[v] {
			bad("stop_services", "service %q is listed twice", v)
		}
		seen[v] = true
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

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

// SettingsPatch is a settings update: a non-nil pointer means "change this
// field". For the schedules, a non-nil pointer to a nil *string (or to "")
// clears the schedule. ChangeReason is required.
type SettingsPatch struct {
	Enabled                 *bool
	TargetMode              *string
	TargetLocalDir          *string
	RagflowComposePath      *string
	RagflowProjectName      *string
	RagflowStopServices     *bool
	AuthDBPath              *string
	FullBackupEnabled       *bool
	FullBackupIncludeImages *bool
	IncrementalSchedule     **string
	FullBackupSchedule      **string
	BackupRetentionMax      *int
	StopServices            *[]string
	ChangeReason            string
}

// apply copies the set fields onto s and returns their JSON names.
func (p SettingsPatch) apply(s *Settings) []string {
	var names []string
	set := func(name string) { names = append(names, name) }
	if p.Enabled != nil {
		s.Enabled = *p.Enabled
		set("enabled")
	}
	if p.TargetMode != nil {
		s.TargetMode = *p.TargetMode
		set("target_mode")
	}
	if p.TargetLocalDir != nil {
		s.TargetLocalDir = *p.TargetLocalDir
		set("target_local_dir")
	}
	if p.RagflowComposePath != nil {
		s.RagflowComposePath = *p.RagflowComposePath
		set("ragflow_compose_path")
	}
	if p.RagflowProjectName != nil {
		s.RagflowProjectName = *p.RagflowProjectName
		set("ragflow_project_name")
	}
	if p.RagflowStopServices != nil {
		s.RagflowStopServices = *p.RagflowStopServices
		set("ragflow_stop_services")
	}
	if p.AuthDBPath != nil {
		s.AuthDBPath = *p.AuthDBPath
		set("auth_db_path")
	}
	if p.FullBackupEnabled != nil {
		s.FullBackupEnabled = *p.FullBackupEnabled
		set("full_backup_enabled")
	}
	if p.FullBackupIncludeImages != nil {
		s.FullBackupIncludeImages = *p.FullBackupIncludeImages
		set("full_backup_include_images")
	}
	if p.IncrementalSchedule != nil {
		s.IncrementalSchedule = *p.IncrementalSchedule
		set("incremental_schedule")
	}
	if p.FullBackupSchedule != nil {
		s.FullBackupSchedule = *p.FullBackupSchedule
		set("full_backup_schedule")
	}
	if p.BackupRetentionMax != nil {
		s.BackupRetentionMax = *p.BackupRetentionMax
		set("backup_retention_max")
	}
	if p.StopServices != nil {
		s.StopServices = slices.Clone(*p.StopServices)
		set("stop_services")
	}
	return names
}

// settingsValues encodes the editable settings of s by JSON name.
func settingsValues(s Settings) map[string]json.RawMessage {
	all, _ := json.Marshal(s)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(all, &m)
	out := make(map[string]json.RawMessage, len(editableSettings))
	for _, k := range editableSettings {
		out[k] = m[k]
	}
	return out
}

// settingsFrom decodes stored rows over base.
func settingsFrom(base Settings, rows map[string]json.RawMessage) Settings {
	merged := settingsValues(base)
	for k, v := range rows {
		if _, ok := merged[k]; ok {
			merged[k] = v
		}
	}
	b, _ := json.Marshal(merged)
	var s Settings // fresh: decoding into a copy of base would write through its pointers
	_ = json.Unmarshal(b, &s)
	if s.StopServices == nil {
		s.StopServices = []string{}
	}
	return s
}

// initSettings stores the initial value of every setting not yet stored,
// and the configured value of every pinned one.
func (m *Manager) initSettings(ctx context.Context) error {
	initial := settingsValues(m.cfg.Settings)
	return m.db.Write(ctx, func(tx *statedb.Tx) error {
		rows, _, err := tx.SettingsRows()
		if err != nil {
			return err
		}
		now := m.cfg.Now().UnixMilli()
		for _, k := range editableSettings {
			cur, stored := rows[k]
			if stored && !m.pinned[k] {
				continue
			}
			if stored && bytes.Equal(cur, initial[k]) {
				continue
			}
			if err := tx.PutSetting(k, initial[k], now); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadSettings reads the stored settings (no derived statistics).
func (m *Manager) loadSettings(ctx context.Context) (Settings, error) {
	var (
		rows    map[string]json.RawMessage
		updated int64
	)
	if err := m.db.Read(ctx, func(tx *statedb.Tx) error {
		var err error
		rows, updated, err = tx.SettingsRows()
		return err
	}); err != nil {
		return Settings{}, err
	}
	s := settingsFrom(m.cfg.Settings, rows)
	s.UpdatedAtMs = updated
	return s, nil
}

const (
	metaLastSkippedAt     = "schedule.last_skipped_at_ms"
	metaLastSkippedReason = "schedule.last_skipped_reason"
)

// Settings returns the settings with their derived statistics: the target
// path, the number of packs in it (counting directory names only, bounded by
// StatTimeout), the last run and the last skipped scheduled run.
func (m *Manager) Settings(ctx context.Context) (Settings, error) {
	s, err := m.loadSettings(ctx)
	if err != nil {
		return Settings{}, err
	}
	if err := m.db.ReadTx(ctx, func(tx *statedb.Tx) error {
		var err error
		if s.LastRunAtMs, err = tx.LastJobCreatedAt(); err != nil {
			return err
		}
		if v, ok, err := tx.Meta(metaLastSkippedAt); err != nil {
			return err
		} else if ok {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				s.LastSkippedRunAtMs = &ms
			}
		}
		v, _, err := tx.Meta(metaLastSkippedReason)
		s.LastSkippedRunReason = v
		return err
	}); err != nil {
		return Settings{}, fmt.Errorf("state db: read settings statistics: %w", err)
	}
	s.LocalBackupTargetPath = s.TargetLocalDir
	if s.TargetLocalDir != "" {
		ents, err := readDirNamesBounded(ctx, s.TargetLocalDir, m.cfg.StatTimeout)
		if err != nil {
			s.LocalBackupPackCountSkipped = !errors.Is(err, os.ErrNotExist)
		}
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), pack.NamePrefix) {
				s.LocalBackupPackCount++
			}
		}
	}
	s.PinnedFields = slices.Sorted(func(yield func(string) bool) {
		for k := range m.pinned {
			if !yield(k) {
				return
			}
		}
	})
	if s.PinnedFields == nil {
		s.PinnedFields = []string{}
	}
	return s, nil
}

// UpdateSettings applies a patch and returns the new settings. It requires
// ChangeReason; it refuses to change a pinned setting (*PinnedError naming
// the first such field; setting a pinned field to the value it already has
// is not a change and is accepted); it refuses invalid values (errors
// wrapping ErrInvalidSettings, each a *SettingsError naming the field and
// the problem). Changed schedules take effect at once.
func (m *Manager) UpdateSettings(ctx context.Context, p SettingsPatch) (Settings, error) {
	if strings.TrimSpace(p.ChangeReason) == "" {
		return Settings{}, &SettingsError{Field: "change_reason", Problem: "required: say why the settings change (change_reason)"}
	}
	var changed []string
	err := m.db.Write(ctx, func(tx *statedb.Tx) error {
		rows, _, err := tx.SettingsRows()
		if err != nil {
			return err
		}
		cur := settingsFrom(m.cfg.Settings, rows)
		next := cur
		named := p.apply(&next)
		next.normalize()
		before, after := settingsValues(cur), settingsValues(next)
		for _, k := range named {
			if bytes.Equal(before[k], after[k]) {
				continue
			}
			if m.pinned[k] {
				return &PinnedError{Field: k}
			}
			changed = append(changed, k)
		}
		if err := validateSettings(next); err != nil {
			return err
		}
		if len(changed) == 0 {
			return nil
		}
		now := m.cfg.Now().UnixMilli()
		for _, k := range changed {
			if err := tx.PutSetting(k, after[k], now); err != nil {
				return err
			}
		}
		return tx.RecordSettingsChange(statedb.SettingsChange{AtMs: now, Fields: changed, Reason: strings.TrimSpace(p.ChangeReason)})
	})
	if err != nil {
		return Settings{}, err
	}
	if len(changed) > 0 {
		m.log.Info("settings changed", zap.Strings("fields", changed), zap.String("reason", p.ChangeReason))
		if m.sched != nil {
			if s, err := m.loadSettings(ctx); err == nil {
				m.sched.reload(s)
			}
		}
	}
	return m.Settings(ctx)
}

// buildSpec turns the settings and a request into a backup Spec (without
// the manager's hooks and logger) and the job kind. Errors wrap
// ErrInvalidSpec, or ErrInvalidSettings for a disabled full backup.
func (m *Manager) buildSpec(s Settings, req Request) (backup.Spec, string, error) {
	if req.Full && !s.FullBackupEnabled {
		return backup.Spec{}, "", fmt.Errorf("%w: full_backup_disabled: full backups are disabled in the settings (full_backup_enabled); enable them or run an incremental backup",
			ErrInvalidSettings)
	}
	if s.TargetLocalDir == "" {
		return backup.Spec{}, "", fmt.Errorf("%w: local_backup_target_not_configured: no backup target directory is configured (settings target_local_dir)", backup.ErrInvalidSpec)
	}
	project := s.RagflowProjectName
	if project == "" {
		project = ComposeProjectName(s.RagflowComposePath)
	}
	if project == "" {
		return backup.Spec{}, "", fmt.Errorf("%w: project_not_configured: no compose project is configured (settings ragflow_project_name, or ragflow_compose_path to derive it from)", backup.ErrInvalidSpec)
	}
	var comps []pack.Component
	if req.Components != nil {
		comps = slices.Clone(req.Components)
	} else {
		if s.AuthDBPath != "" {
			comps = append(comps, pack.ComponentDB)
		}
		comps = append(comps, pack.ComponentVolumes)
	}
	if req.Full && s.FullBackupIncludeImages && !slices.Contains(comps, pack.ComponentImages) {
		comps = append(comps, pack.ComponentImages)
	}
	// Pack order, no duplicates; unknown components are kept for Validate to name.
	var ordered []pack.Component
	for _, c := range pack.AllComponents {
		if slices.Contains(comps, c) {
			ordered = append(ordered, c)
		}
	}
	for _, c := range comps {
		if !slices.Contains(pack.AllComponents, c) && !slices.Contains(ordered, c) {
			ordered = append(ordered, c)
		}
	}
	if ordered == nil {
		ordered = []pack.Component{}
	}
	spec := backup.Spec{
		Lang:       m.cfg.Lang,
		Engine:     m.cfg.Engine,
		Project:    project,
		Target:     s.TargetLocalDir,
		Policy:     m.cfg.Policy,
		Components: ordered,
		StagingDir: m.cfg.StagingDir,
		Now:        m.cfg.Now,
	}
	if slices.Contains(ordered, pack.ComponentDB) {
		spec.SQLitePath = s.AuthDBPath
	}
	if slices.Contains(ordered, pack.ComponentVolumes) {
		spec.StopServices = slices.Clone(s.StopServices)
		spec.StopAllServices = s.RagflowStopServices
	}
	if err := spec.Validate(); err != nil {
		return backup.Spec{}, "", err
	}
	kind := KindIncremental
	if slices.Contains(ordered, pack.ComponentImages) {
		kind = KindFull
	}
	return spec, kind, nil
}
