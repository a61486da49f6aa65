package jobs_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/seal"
)

// writeAgeKeys writes an identity file (age-keygen's output, 0600) and a
// recipients file naming its public key.
func writeAgeKeys(t *testing.T) (identityFile, recipientsFile, recipient, secret string) {
	t.Helper()
	k := backuptest.MustAgeKeys(t)
	return k.IdentityFile, k.RecipientsFile, k.Recipient, k.Secret
}

// The encryption settings reach the backup as the CLI's age flags do: the
// recipients file's keys (spec.Seal), require_encryption
// (spec.RequireEncryption); the state DB holds the paths, never a key.
func TestSettingsSealReachTheBackup(t *testing.T) {
	ctx := context.Background()
	identityFile, recipientsFile, recipient, secret := writeAgeKeys(t)
	br := newBlockingRun()
	stateDir := t.TempDir()
	m := backuptest.MustManager(t, jobs.Config{Run: br.Run, StateDir: stateDir})

	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if spec := br.waitStarted(t); spec.Seal != nil || spec.RequireEncryption != "" {
		t.Errorf("default settings: the backup got Seal %v RequireEncryption %q", spec.Seal, spec.RequireEncryption)
	}
	br.release <- struct{}{}
	MustJobEnded(t, m, job.ID)
	MustLockFree(t, m)

	if _, err := m.UpdateSettings(ctx, MustPatch(t, "encrypt at rest", "age_recipients_file", recipientsFile,
		"age_identity_file", identityFile, "require_encryption", true)); err != nil {
		t.Fatal(err)
	}
	job, err = m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	spec := br.waitStarted(t)
	if !spec.Seal.Encrypts() || !slices.Equal(spec.Seal.Recipients(), []string{recipient}) || spec.Seal.Opens() {
		t.Errorf("the backup got Seal recipients %v (opens %v), want [%s] and no identity", spec.Seal.Recipients(), spec.Seal.Opens(), recipient)
	}
	if !strings.Contains(spec.RequireEncryption, "require_encryption") {
		t.Errorf("RequireEncryption %q does not name the setting", spec.RequireEncryption)
	}
	br.release <- struct{}{}
	MustJobEnded(t, m, job.ID)
	MustLockFree(t, m)

	k, err := m.OpenKeys(ctx)
	if err != nil || !k.Opens() || !k.CanOpen([]string{recipient}) {
		t.Errorf("OpenKeys: %v (opens %v)", err, k.Opens())
	}
	s, _ := m.Settings(ctx)
	if s.AgeRecipientsFile != recipientsFile || s.AgeIdentityFile != identityFile || !s.RequireEncryption {
		t.Errorf("settings %q %q %v", s.AgeRecipientsFile, s.AgeIdentityFile, s.RequireEncryption)
	}
	// The state DB holds the paths only.
	db := MustStateDB(t, stateDir)
	mustRead(t, db, func(tx *statedb.Tx) error {
		rows, _, err := tx.SettingsRows()
		for k, v := range rows {
			if strings.Contains(string(v), recipient) || strings.Contains(strings.ToUpper(string(v)), "AGE-SECRET-KEY") || strings.Contains(string(v), secret) {
				t.Errorf("settings row %s holds a key: %s", k, v)
			}
		}
		return err
	})
}

// A daemon asked to require encryption without recipients, or to seal a
// store pack, refuses the job before it exists (the seal sentinels, mapped
// to 400 by the API); a missing recipients file or identity file is an
// invalid spec naming its setting.
func TestSettingsSealRefusals(t *testing.T) {
	ctx := context.Background()
	_, recipientsFile, _, _ := writeAgeKeys(t)
	m := backuptest.MustManager(t, jobs.Config{Run: quickRun})
	count := func() int {
		list, err := m.List(ctx, jobs.ListOptions{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	before := count()
	for _, c := range []struct {
		name  string
		patch []any
		want  error
		words []string
	}{
		{"required without recipients", []any{"require_encryption", true}, seal.ErrPlaintextRefused, []string{"require_encryption", "age_recipients_file"}},
		{"recipients file missing", []any{"pack_format", "classic", "age_recipients_file", filepath.Join(t.TempDir(), "absent.txt")}, backup.ErrInvalidSpec, []string{"age_recipients_file", "absent.txt"}},
	} {
		if _, err := m.UpdateSettings(ctx, MustPatch(t, c.name, c.patch...)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, call := range []string{"Start", "Precheck"} {
			var err error
			if call == "Start" {
				_, err = m.Start(ctx, jobs.Request{})
			} else {
				_, err = m.Precheck(ctx, jobs.Request{})
			}
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %s: %v, want %v", c.name, call, err, c.want)
				continue
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %s: %q does not name %q", c.name, call, err, w)
				}
			}
		}
	}
	if n := count(); n != before {
		t.Errorf("%d jobs after the refusals, want %d (none created)", n, before)
	}
	// An identity file that is not one: invalid, naming the setting.
	if _, err := m.UpdateSettings(ctx, MustPatch(t, "wrong file", "age_recipients_file", "", "age_identity_file", recipientsFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.OpenKeys(ctx); !errors.Is(err, backup.ErrInvalidSpec) || !strings.Contains(err.Error(), "age_identity_file") {
		t.Errorf("OpenKeys of a recipients file: %v", err)
	}
}
