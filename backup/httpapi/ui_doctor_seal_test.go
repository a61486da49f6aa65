package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/seal"
)

// GET /v1/doctor checks encryption with the daemon's settings: a target
// holding a real sealed pack warns identity_missing (naming the recipient)
// without age_identity_file and is ok with it; require_encryption makes a
// plaintext pack a warning. No secret in the answer.
func TestUIDoctorEncryption(t *testing.T) {
	ctx := context.Background()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := backuptest.MustSpec(t, backuptest.NewEngine())
	if spec.Seal, err = seal.Load(ctx, seal.Config{Recipients: []string{id.Recipient().String()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(ctx, spec, nil); err != nil {
		t.Fatal(err)
	}
	get := func(identity string, require bool) check.Check {
		t.Helper()
		s := backuptest.Settings(t)
		s.TargetLocalDir, s.AgeIdentityFile, s.RequireEncryption = spec.Target, identity, require
		srv := MustServer(t, backuptest.MustManager(t, jobs.Config{Settings: s}), httpapi.Options{})
		code, _, body := MustDo(t, srv, "GET", "/v1/doctor", "")
		var rep doctor.Report
		if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 {
			t.Fatalf("doctor: %d %s", code, body)
		}
		if strings.Contains(body, id.String()) {
			t.Error("the doctor's answer holds the secret key")
		}
		c, _ := rep.Check(doctor.CheckEncryption)
		return c
	}
	if c := get("", false); c.Status != check.Warn || c.Code != "identity_missing" || !strings.Contains(c.Summary, id.Recipient().String()) {
		t.Errorf("without age_identity_file: %+v", c)
	}
	if c := get(idFile, false); c.Status != check.OK {
		t.Errorf("with age_identity_file: %+v", c)
	}
	spec.Seal = nil
	if _, err := backup.Run(ctx, spec, nil); err != nil {
		t.Fatal(err)
	}
	if c := get(idFile, true); c.Status != check.Warn || c.Code != "plaintext_packs" {
		t.Errorf("require_encryption, a plaintext pack: %+v", c)
	}
}
