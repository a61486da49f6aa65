package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/backup/storage"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/bounded"
	"go.uber.org/zap"
)

// Settings storage: one row per editable setting in the settings table, keyed
// by its JSON name, valued by its JSON encoding. The state DB is
// authoritative for what the UI edits; Config.Settings only seeds
// settings not stored yet, except pinned ones, which are rewritten from the
// configuration at every start and cannot be changed by UpdateSettings.

// initSettings stores the initial value of every setting not yet stored,
// and the configured value of every pinned one.
func (m *Manager) initSettings(ctx context.Context) error {
	initial := settings.Values(m.cfg.Settings)
	return m.db.Write(ctx, func(tx *statedb.Tx) error {
		rows, _, err := tx.SettingsRows()
		if err != nil {
			return err
		}
		now := m.cfg.Now().UnixMilli()
		for _, k := range settings.Editable() {
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
func (m *Manager) loadSettings(ctx context.Context) (settings.Settings, error) {
	return readSettings(ctx, m.db, m.cfg.Settings)
}

// readSettings reads the stored settings of db over base, with the time of
// their last change.
func readSettings(ctx context.Context, db *statedb.DB, base settings.Settings) (settings.Settings, error) {
	var (
		rows    map[string]json.RawMessage
		updated int64
	)
	if err := db.Read(ctx, func(tx *statedb.Tx) error {
		var err error
		rows, updated, err = tx.SettingsRows()
		return err
	}); err != nil {
		return settings.Settings{}, err
	}
	s := settings.FromValues(base, rows)
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
func (m *Manager) Settings(ctx context.Context) (settings.Settings, error) {
	s, err := m.loadSettings(ctx)
	if err != nil {
		return settings.Settings{}, err
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
		return settings.Settings{}, fmt.Errorf("state db: read settings statistics: %w", err)
	}
	s.LocalBackupTargetPath = s.TargetLocalDir
	if storage.IsS3URL(s.TargetLocalDir) { // object storage: its complete packs
		packs, err := bounded.Call(ctx, m.cfg.StatTimeout, "listing "+s.TargetLocalDir, func() ([]pack.Info, error) { return listTarget(ctx, s) })
		s.LocalBackupPackCountSkipped = err != nil
		for _, p := range packs {
			if p.Status == pack.StatusComplete {
				s.LocalBackupPackCount++
			}
		}
	} else if s.TargetLocalDir != "" {
		ents, err := bounded.Call(ctx, m.cfg.StatTimeout, "listing "+s.TargetLocalDir, func() ([]os.DirEntry, error) { return os.ReadDir(s.TargetLocalDir) })
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
func (m *Manager) UpdateSettings(ctx context.Context, p settings.Patch) (settings.Settings, error) {
	if strings.TrimSpace(p.ChangeReason) == "" {
		return settings.Settings{}, &settings.Error{Field: "change_reason", Problem: "required: say why the settings change (change_reason)"}
	}
	var changed []string
	err := m.db.Write(ctx, func(tx *statedb.Tx) error {
		rows, _, err := tx.SettingsRows()
		if err != nil {
			return err
		}
		next, named, err := p.Apply(settings.FromValues(m.cfg.Settings, rows))
		if err != nil {
			return err
		}
		for _, k := range named {
			if m.pinned[k] {
				return &PinnedError{Field: k}
			}
		}
		if err := next.Validate(); err != nil {
			return err
		}
		if changed = named; len(changed) == 0 {
			return nil
		}
		after := settings.Values(next)
		now := m.cfg.Now().UnixMilli()
		for _, k := range changed {
			if err := tx.PutSetting(k, after[k], now); err != nil {
				return err
			}
		}
		return tx.RecordSettingsChange(statedb.SettingsChange{AtMs: now, Fields: changed, Reason: strings.TrimSpace(p.ChangeReason)})
	})
	if err != nil {
		return settings.Settings{}, err
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
// ErrInvalidSpec. full_backup_enabled is not read here: it only turns the
// full backups' schedule on and off (RagFlowAuth's 启用定时全量备份); a
// requested full backup always runs.
func (m *Manager) buildSpec(ctx context.Context, s settings.Settings, req Request) (backup.Spec, Kind, error) {
	if s.TargetLocalDir == "" {
		return backup.Spec{}, "", fmt.Errorf("%w: local_backup_target_not_configured: no backup target directory is configured (settings target_local_dir)", backup.ErrInvalidSpec)
	}
	project := s.RagflowProjectName
	if project == "" {
		project = settings.ComposeProjectName(s.RagflowComposePath)
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
		S3:         s3Options(s),
		Policy:     m.cfg.Policy,
		Components: ordered,
		StagingDir: m.cfg.StagingDir,
		Now:        m.cfg.Now,
	}
	mode, err := pack.ParseMode(s.PackMode)
	if err != nil {
		return backup.Spec{}, "", fmt.Errorf("%w: %v", backup.ErrInvalidSpec, err)
	}
	spec.PackMode = mode
	if spec.Format, err = backup.ParseFormat(s.PackFormat); err != nil {
		return backup.Spec{}, "", fmt.Errorf("%w: %v", backup.ErrInvalidSpec, err)
	}
	if slices.Contains(ordered, pack.ComponentDB) {
		spec.SQLitePath = s.AuthDBPath
	}
	if slices.Contains(ordered, pack.ComponentVolumes) {
		spec.StopServices = slices.Clone(s.StopServices)
		spec.StopAllServices = s.RagflowStopServices
		spec.StopApps = slices.Clone(s.StopAppServices)
	}
	spec.Strict = s.StrictMounts
	spec.BindLimit = int64(s.BindMaxMiB) << 20
	if err := sealSpec(ctx, s, &spec, m.cfg.StateDir); err != nil {
		return backup.Spec{}, "", err
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

// sealSpec gives spec the encryption settings as the CLI's age flags do
// (docs/encryption.md): the recipients of age_recipients_file (spec.Seal;
// a missing or malformed file wraps ErrInvalidSpec and the seal sentinel)
// and require_encryption (spec.RequireEncryption). Then the
// no-silent-plaintext rule (backup.Spec.DecideSeal) refuses before any job
// exists: required without recipients (seal.ErrPlaintextRefused). The
// state DB holds the file's path only; the keys are read at every job. A
// sealed store backup keeps its naming key files in the state dir
// (namingkey.go).
func sealSpec(ctx context.Context, s settings.Settings, spec *backup.Spec, stateDir string) error {
	spec.Seal, spec.RequireEncryption = nil, ""
	if spec.Format == backup.FormatStore && s.AgeRecipientsFile != "" {
		var err error
		if spec.NamingKeyDir, err = namingKeyDir(stateDir); err != nil {
			return err
		}
	}
	if s.AgeRecipientsFile != "" {
		c := seal.Config{RecipientsFiles: []string{s.AgeRecipientsFile}}
		if spec.Format == backup.FormatStore && s.AgeIdentityFile != "" {
			c.IdentityFiles = []string{s.AgeIdentityFile} // recovers a missing naming key file from the store's sealed copy
		}
		k, err := seal.Load(ctx, c)
		if err != nil {
			return fmt.Errorf("%w: age_recipients_file, age_identity_file: %w", backup.ErrInvalidSpec, err)
		}
		spec.Seal = k
	}
	if s.RequireEncryption {
		spec.RequireEncryption = "the setting require_encryption"
	}
	if _, err := spec.DecideSeal(); err != nil {
		return fmt.Errorf("%w (dockpack serve: settings age_recipients_file, require_encryption, pack_format)", err)
	}
	return nil
}

// IdentityHint names where the daemon's identity is configured, in the
// refusals of a sealed pack without one.
const IdentityHint = "the setting age_identity_file (dockpack serve --age-identity, $DOCKPACK_AGE_IDENTITY)"

// openKeys loads the identity file of age_identity_file (nil when none is
// set): the keys that open sealed packs for drills, background
// verification and the real restore of the live database. A missing or
// malformed file wraps ErrInvalidSpec and the seal sentinel.
func openKeys(ctx context.Context, s settings.Settings) (*seal.Keys, error) {
	if s.AgeIdentityFile == "" {
		return nil, nil
	}
	k, err := seal.Load(ctx, seal.Config{IdentityFiles: []string{s.AgeIdentityFile}})
	if err != nil {
		return nil, fmt.Errorf("%w: age_identity_file: %w", backup.ErrInvalidSpec, err)
	}
	return k, nil
}

// OpenKeys loads the identity of the age_identity_file setting (nil when
// none is set): background verification opens sealed packs with it.
func (m *Manager) OpenKeys(ctx context.Context) (*seal.Keys, error) {
	s, err := m.loadSettings(ctx)
	if err != nil {
		return nil, err
	}
	return openKeys(ctx, s)
}
