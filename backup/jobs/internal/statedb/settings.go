package statedb

import (
	"encoding/json"
	"fmt"
	"strings"

	"zombiezen.com/go/sqlite"
)

// SettingsRows reads the stored settings (name → JSON value) and the time
// of the latest change.
func (tx *Tx) SettingsRows() (map[string]json.RawMessage, int64, error) {
	m := map[string]json.RawMessage{}
	var updated int64
	err := tx.query(`SELECT key, value, updated_at_ms FROM settings`, func(stmt *sqlite.Stmt) error {
		m[stmt.ColumnText(0)] = json.RawMessage(stmt.ColumnText(1))
		updated = max(updated, stmt.ColumnInt64(2))
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("state db: read settings: %w", err)
	}
	return m, updated, nil
}

// PutSetting stores one setting's JSON value.
func (tx *Tx) PutSetting(key string, value json.RawMessage, atMs int64) error {
	if err := tx.exec(`INSERT INTO settings (key, value, updated_at_ms) VALUES (?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms`, key, string(value), atMs); err != nil {
		return fmt.Errorf("state db: store setting %s: %w", key, err)
	}
	return nil
}

// SettingsChange is one recorded change of settings.
type SettingsChange struct {
	AtMs   int64
	Fields []string
	Reason string
}

// RecordSettingsChange records which settings changed and why.
func (tx *Tx) RecordSettingsChange(c SettingsChange) error {
	return tx.exec(`INSERT INTO settings_changes (at_ms, fields, reason) VALUES (?, ?, ?)`, c.AtMs, strings.Join(c.Fields, ","), c.Reason)
}

// SettingsChanges lists the recorded changes, oldest first.
func (tx *Tx) SettingsChanges() ([]SettingsChange, error) {
	var out []SettingsChange
	err := tx.query(`SELECT at_ms, fields, reason FROM settings_changes ORDER BY id`, func(stmt *sqlite.Stmt) error {
		out = append(out, SettingsChange{AtMs: stmt.ColumnInt64(0), Fields: strings.Split(stmt.ColumnText(1), ","), Reason: stmt.ColumnText(2)})
		return nil
	})
	return out, err
}

// Meta reads a value of the meta table.
func (tx *Tx) Meta(key string) (string, bool, error) {
	var v string
	found := false
	err := tx.query(`SELECT value FROM meta WHERE key = ?`, func(stmt *sqlite.Stmt) error {
		v, found = stmt.ColumnText(0), true
		return nil
	}, key)
	return v, found, err
}

// SetMeta writes a value of the meta table.
func (tx *Tx) SetMeta(key, value string) error {
	return tx.exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
}
