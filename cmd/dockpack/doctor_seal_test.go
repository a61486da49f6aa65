package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/settings"
)

// doctor --age-identity: the encryption check of a target holding a real
// sealed pack warns identity_missing (exit 6) without the identity, names
// the recipient, and is ok with it; the daemon's settings give the
// identity, the recipients and require_encryption when no flag does.
func TestDoctorAgeIdentity(t *testing.T) {
	t.Setenv("DOCKPACK_STATE_DIR", "")
	t.Setenv("DOCKPACK_AGE_IDENTITY", "")
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := backuptest.MustSpec(t, backuptest.NewEngine())
	if spec.Seal, err = seal.Load(context.Background(), seal.Config{Recipients: []string{id.Recipient().String()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(context.Background(), spec, nil); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (check.Check, int, string) {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"doctor", "--json", "--log-level", "error", "--staging-dir", t.TempDir(), "--target", spec.Target,
			"--check-timeout", "5s"}, args...))
		err := root.Execute()
		var rep doctor.Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("not a report: %v\n%s", err, out.String())
		}
		c, _ := rep.Check(doctor.CheckEncryption)
		return c, exitCode(err), out.String()
	}
	c, _, out := run()
	if c.Status != check.Warn || c.Code != "identity_missing" || !strings.Contains(c.Summary, id.Recipient().String()) {
		t.Errorf("without --age-identity: %+v", c)
	}
	if strings.Contains(out, id.String()) {
		t.Error("the report holds the secret key")
	}
	if c, _, out = run("--age-identity", idFile); c.Status != check.OK || c.Code != "ok" || strings.Contains(out, id.String()) {
		t.Errorf("with --age-identity: %+v", c)
	}
}

// The daemon's encryption settings fill the doctor's options; a flag's
// identity wins over the setting's.
func TestDoctorSealSettings(t *testing.T) {
	s := settings.Settings{AgeIdentityFile: "/etc/dockpack/key.txt", AgeRecipientsFile: "/etc/dockpack/recipients.txt", RequireEncryption: true}
	var o doctor.Options
	fillFromSettings(&o, s)
	if !slices.Equal(o.AgeIdentityFiles, []string{s.AgeIdentityFile}) || !slices.Equal(o.AgeRecipientsFiles, []string{s.AgeRecipientsFile}) || !o.RequireEncryption {
		t.Errorf("from the settings: %+v", o)
	}
	o = doctor.Options{AgeIdentityFiles: []string{"/root/key.txt"}}
	fillFromSettings(&o, s)
	if !slices.Equal(o.AgeIdentityFiles, []string{"/root/key.txt"}) {
		t.Errorf("--age-identity replaced by the setting: %v", o.AgeIdentityFiles)
	}
	o = doctor.Options{}
	fillFromSettings(&o, settings.Settings{})
	if o.AgeIdentityFiles != nil || o.AgeRecipientsFiles != nil || o.RequireEncryption {
		t.Errorf("no encryption settings: %+v", o)
	}
}
