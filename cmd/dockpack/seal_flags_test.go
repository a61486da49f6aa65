package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/seal"
)

// parseAgeFlags binds the write or read flags on a fresh flag set and parses args.
func parseAgeFlags(t *testing.T, write bool, args ...string) *ageFlags {
	t.Helper()
	var a ageFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	if write {
		a.bindWrite(fs)
	} else {
		a.bindRead(fs)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return &a
}

func TestAgeFlagsApplyWrite(t *testing.T) {
	for _, k := range []string{"DOCKPACK_AGE_RECIPIENTS_FILE", "DOCKPACK_AGE_IDENTITY", "DOCKPACK_AGE_NAMING_KEY", "DOCKPACK_REQUIRE_ENCRYPTION", "DOCKPACK_AGE_PASSPHRASE_FILE", envPassphrase} {
		t.Setenv(k, "")
	}
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	r := id.Recipient().String()
	dir := t.TempDir()
	rf := filepath.Join(dir, "recipients.txt")
	os.WriteFile(rf, []byte("# ops\n"+r+"\n"), 0o644)
	badRF := filepath.Join(dir, "bad.txt")
	os.WriteFile(badRF, []byte(id.String()+"\n"), 0o600) // a secret key where recipients belong
	pf := filepath.Join(dir, "pass.txt")
	os.WriteFile(pf, []byte("correct horse\n"), 0o600)

	for name, tc := range map[string]struct {
		args     []string
		store    bool
		seals    bool
		code     int
		sentinel error
		says     string
	}{
		"no age flag: plaintext, as asked":       {nil, false, false, exitOK, nil, ""},
		"a recipient: sealed":                    {[]string{"--age-recipient", r}, false, true, exitOK, nil, ""},
		"a recipients file: sealed":              {[]string{"--age-recipients-file", rf}, false, true, exitOK, nil, ""},
		"a passphrase: sealed":                   {[]string{"--age-passphrase-file", pf}, false, true, exitOK, nil, ""},
		"required and a recipient: sealed":       {[]string{"--require-encryption", "--age-recipient", r}, false, true, exitOK, nil, ""},
		"required, no recipient":                 {[]string{"--require-encryption"}, false, false, exitPrecheck, seal.ErrPlaintextRefused, "--require-encryption asks for encryption"},
		"a recipient, store format, no key file": {[]string{"--age-recipient", r}, true, false, exitPrecheck, seal.ErrNamingKey, "--age-naming-key"},
		"a recipient, store format, key file":    {[]string{"--age-recipient", r, "--age-naming-key", filepath.Join(dir, "naming.json")}, true, true, exitOK, nil, ""},
		"required, store format: sealed":         {[]string{"--require-encryption", "--age-recipient", r, "--age-naming-key", "n.json"}, true, true, exitOK, nil, ""},
		"required, no recipient, store format":   {[]string{"--require-encryption"}, true, false, exitPrecheck, seal.ErrPlaintextRefused, "--age-recipient"},
		"a bad recipient":                        {[]string{"--age-recipient", "age1nope"}, false, false, exitUsage, seal.ErrBadRecipient, ""},
		"a secret key as recipients file":        {[]string{"--age-recipients-file", badRF}, false, false, exitUsage, seal.ErrBadRecipient, "secret key"},
		"a missing recipients file":              {[]string{"--age-recipients-file", filepath.Join(dir, "absent")}, false, false, exitUsage, os.ErrNotExist, ""},
		"a passphrase and a recipient":           {[]string{"--age-passphrase-file", pf, "--age-recipient", r}, false, false, exitUsage, seal.ErrPassphraseAlone, ""},
		"an empty passphrase file":               {[]string{"--age-passphrase-file", os.DevNull}, false, false, exitUsage, nil, "is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			spec := backup.Spec{Format: backup.FormatClassic, Target: dir}
			if tc.store {
				spec.Format = backup.FormatStore
			}
			err := parseAgeFlags(t, true, tc.args...).applyWrite(ctx, &spec)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.code)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Fatalf("err %v is not %v", err, tc.sentinel)
			}
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v does not say %q", err, tc.says)
			}
			if err != nil && strings.Contains(err.Error(), id.String()[20:]) {
				t.Fatalf("the error repeats a secret key: %v", err)
			}
			if err == nil && spec.Seal.Encrypts() != tc.seals {
				t.Fatalf("spec seals %v, want %v", spec.Seal.Encrypts(), tc.seals)
			}
		})
	}

	// The environment feeds the same config.
	t.Setenv("DOCKPACK_REQUIRE_ENCRYPTION", "1")
	if err := parseAgeFlags(t, true).applyWrite(ctx, &backup.Spec{Target: dir}); !errors.Is(err, seal.ErrPlaintextRefused) {
		t.Fatalf("$DOCKPACK_REQUIRE_ENCRYPTION=1: %v", err)
	}
	t.Setenv("DOCKPACK_REQUIRE_ENCRYPTION", "")
	t.Setenv(envPassphrase, "from the environment")
	spec := backup.Spec{Target: dir}
	if err := parseAgeFlags(t, true).applyWrite(ctx, &spec); err != nil || spec.Seal.Recipients()[0] != seal.PassphraseRecipient {
		t.Fatalf("$%s: %v", envPassphrase, err)
	}
}

func TestAgeFlagsKeys(t *testing.T) {
	for _, k := range []string{"DOCKPACK_AGE_IDENTITY", "DOCKPACK_AGE_PASSPHRASE_FILE", envPassphrase} {
		t.Setenv(k, "")
	}
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	idf := filepath.Join(dir, "key.txt")
	os.WriteFile(idf, []byte(id.String()+"\n"), 0o600)
	t.Setenv("DOCKPACK_AGE_IDENTITY", idf)
	k, err := parseAgeFlags(t, false).keys(ctx)
	if err != nil || !k.Opens() || !k.CanOpen([]string{id.Recipient().String()}) {
		t.Fatalf("keys from $DOCKPACK_AGE_IDENTITY: %v", err)
	}
	_, err = parseAgeFlags(t, false, "--age-identity", filepath.Join(dir, "absent")).keys(ctx)
	if exitCode(err) != exitUsage {
		t.Fatalf("a missing identity file: %v (exit %d), want a usage error", err, exitCode(err))
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("no key here\n"), 0o600)
	_, err = parseAgeFlags(t, false, "--age-identity", bad).keys(ctx)
	if !errors.Is(err, seal.ErrBadIdentity) || exitCode(err) != exitUsage {
		t.Fatalf("a bad identity file: %v (exit %d)", err, exitCode(err))
	}
}
