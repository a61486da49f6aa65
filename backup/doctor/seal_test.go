package doctor_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/mountcheck"
)

// drAgeKey writes an identity file (0600) and a recipients file for a new
// X25519 identity.
func drAgeKey(t *testing.T) (identityFile, recipientsFile, recipient, secret string) {
	t.Helper()
	k := backuptest.MustAgeKeys(t)
	return k.IdentityFile, k.RecipientsFile, k.Recipient, k.Secret
}

// drBackup makes one real classic pack in spec's target (sealed to
// recipient when it is not "") and returns its name.
func drBackup(t *testing.T, spec backup.Spec, recipient string) string {
	t.Helper()
	spec.Seal = nil
	if recipient != "" {
		k, err := seal.Load(context.Background(), seal.Config{Recipients: []string{recipient}})
		if err != nil {
			t.Fatal(err)
		}
		spec.Seal = k
	}
	res, err := backup.Run(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if (res.Manifest.Encryption != nil) != (recipient != "") {
		t.Fatalf("pack %s: encryption %+v, want sealed to %q", res.Name, res.Manifest.Encryption, recipient)
	}
	time.Sleep(5 * time.Millisecond) // another pack name
	return res.Name
}

func drEncryption(t *testing.T, o doctor.Options) (check.Check, string) {
	t.Helper()
	o.StagingDir, o.Policy, o.RootWarnFree, o.RootFailFree = t.TempDir(), mountcheck.Policy{AnyFSType: true, AllowRootFS: true}, 1, 1
	rep := MustDoctor(t, o)
	js, _ := json.Marshal(rep)
	return drCheck(t, rep, doctor.CheckEncryption), string(js)
}

func drEvidence(c check.Check, key string) string {
	for _, e := range c.Evidence {
		if e.Key == key {
			return e.Value
		}
	}
	return ""
}

// The encryption check on real packs: skipped when nothing is sealed or
// required; identity_missing naming the packs' recipients when no identity
// is given, when it cannot be read, or when it opens none of them; ok with
// the identity; plaintext_packs naming at most 5 (newest first) when the
// configuration seals (require_encryption or a recipients file). No secret
// key in the report.
func TestDoctorEncryption(t *testing.T) {
	idFile, recFile, recipient, secret := drAgeKey(t)
	otherFile, _, otherRecipient, otherSecret := drAgeKey(t)
	spec := backuptest.MustSpec(t, backuptest.NewEngine())
	target := spec.Target
	plain := drBackup(t, spec, "")

	if c, _ := drEncryption(t, doctor.Options{Target: target}); c.Status != check.Skip {
		t.Fatalf("plaintext packs, nothing required: %+v", c)
	}
	c, _ := drEncryption(t, doctor.Options{Target: target, RequireEncryption: true})
	if c.Status != check.Warn || c.Code != "plaintext_packs" || !strings.Contains(c.Summary, plain) || drEvidence(c, "plaintext") != plain {
		t.Fatalf("required, one plaintext pack: %+v", c)
	}
	t.Logf("plaintext: %s | %s", c.Summary, c.Fix)

	sealed := drBackup(t, spec, recipient)
	cases := []struct {
		name       string
		o          doctor.Options
		status     check.Status
		code       string
		words      []string
		sealedEvid string
	}{
		{"no identity", doctor.Options{}, check.Warn, "identity_missing", []string{"1 packs", recipient, "age_identity_file", "--age-identity"}, "1"},
		{"another identity", doctor.Options{AgeIdentityFiles: []string{otherFile}}, check.Warn, "identity_missing", []string{recipient, otherRecipient}, "1"},
		{"unreadable identity", doctor.Options{AgeIdentityFiles: []string{filepath.Join(t.TempDir(), "missing.txt")}}, check.Warn, "identity_missing", []string{"missing.txt"}, "1"},
		{"the identity", doctor.Options{AgeIdentityFiles: []string{idFile}}, check.OK, "ok", []string{"1 sealed packs"}, "1"},
		{"the identity, recipients configured", doctor.Options{AgeIdentityFiles: []string{idFile}, AgeRecipientsFiles: []string{recFile}},
			check.Warn, "plaintext_packs", []string{"1 packs", plain}, "1"},
	}
	for _, tc := range cases {
		tc.o.Target = target
		c, js := drEncryption(t, tc.o)
		if c.Status != tc.status || c.Code != tc.code || drEvidence(c, "sealed_packs") != tc.sealedEvid || drEvidence(c, "plaintext_packs") != "1" {
			t.Errorf("%s: %s %s %q, evidence %+v", tc.name, c.Status, c.Code, c.Summary, c.Evidence)
		}
		for _, w := range tc.words {
			if !strings.Contains(c.Summary+" "+c.Fix+" "+c.Detail, w) {
				t.Errorf("%s: %q / %q does not name %q", tc.name, c.Summary, c.Fix, w)
			}
		}
		if strings.Contains(js, secret) || strings.Contains(js, otherSecret) || strings.Contains(js, "AGE-SECRET-KEY") {
			t.Errorf("%s: the report holds a secret key", tc.name)
		}
		t.Logf("%s: %s %s: %s | %s", tc.name, c.Status, c.Code, c.Summary, c.Detail)
	}
	if c, _ := drEncryption(t, doctor.Options{Target: target, AgeIdentityFiles: []string{idFile}, AgeRecipientsFiles: []string{recFile}}); drEvidence(c, "configured_recipients") != recipient ||
		drEvidence(c, "identity") != recipient || drEvidence(c, "pack_recipients") != recipient || strings.Contains(c.Summary, sealed) || !strings.Contains(c.Summary, plain) {
		t.Errorf("evidence %+v", c.Evidence)
	}

	// zh-CN: the same finding, translated; codes and values unchanged.
	c, _ = drEncryption(t, doctor.Options{Target: target, Lang: "zh-CN"})
	if c.Code != "identity_missing" || !strings.Contains(c.Summary, "本机没有给定 age 身份") || !strings.Contains(c.Summary, recipient) {
		t.Errorf("zh-CN: %+v", c)
	}

	// More than 5 plaintext packs: 5 named, newest first.
	for i := 0; i < 6; i++ {
		backuptest.MustManifestOnlyPack(t, target, time.Now().Add(-time.Duration(i+1)*time.Hour))
	}
	c, _ = drEncryption(t, doctor.Options{Target: target, AgeIdentityFiles: []string{idFile}, RequireEncryption: true})
	named := strings.Split(drEvidence(c, "plaintext"), ", ")
	if c.Code != "plaintext_packs" || drEvidence(c, "plaintext_packs") != "7" || len(named) != 5 || named[0] != plain || !strings.HasPrefix(named[1], pack.NamePrefix) {
		t.Errorf("7 plaintext packs: %s %q, evidence %+v", c.Code, c.Summary, c.Evidence)
	}
}
