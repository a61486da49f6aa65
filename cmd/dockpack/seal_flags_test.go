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

func TestAgeFlagsRefuseUnsealed(t *testing.T) {
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

	const writer = "classic pack to a directory"
	for name, tc := range map[string]struct {
		args     []string
		code     int
		sentinel error
		says     string
	}{
		"no age flag: plaintext, as asked": {nil, exitOK, nil, ""},
		"a recipient: not wired":           {[]string{"--age-recipient", r}, exitPrecheck, seal.ErrNotWired, "not wired into the writers yet"},
		"a recipients file: not wired":     {[]string{"--age-recipients-file", rf}, exitPrecheck, seal.ErrNotWired, writer},
		"a passphrase: not wired":          {[]string{"--age-passphrase-file", pf}, exitPrecheck, seal.ErrNotWired, "nothing was written"},
		"required, no recipient":           {[]string{"--require-encryption"}, exitPrecheck, seal.ErrPlaintextRefused, "--require-encryption asks for encryption"},
		"required and a recipient":         {[]string{"--require-encryption", "--age-recipient", r}, exitPrecheck, seal.ErrNotWired, "--require-encryption asks"},
		"a bad recipient":                  {[]string{"--age-recipient", "age1nope"}, exitUsage, seal.ErrBadRecipient, ""},
		"a secret key as recipients file":  {[]string{"--age-recipients-file", badRF}, exitUsage, seal.ErrBadRecipient, "secret key"},
		"a missing recipients file":        {[]string{"--age-recipients-file", filepath.Join(dir, "absent")}, exitUsage, os.ErrNotExist, ""},
		"a passphrase and a recipient":     {[]string{"--age-passphrase-file", pf, "--age-recipient", r}, exitUsage, seal.ErrPassphraseAlone, ""},
		"an empty passphrase file":         {[]string{"--age-passphrase-file", os.DevNull}, exitUsage, nil, "is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			err := parseAgeFlags(t, true, tc.args...).refuseUnsealed(ctx, writer)
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
		})
	}

	// The environment feeds the same config.
	t.Setenv("DOCKPACK_REQUIRE_ENCRYPTION", "1")
	if err := parseAgeFlags(t, true).refuseUnsealed(ctx, writer); !errors.Is(err, seal.ErrPlaintextRefused) {
		t.Fatalf("$DOCKPACK_REQUIRE_ENCRYPTION=1: %v", err)
	}
	t.Setenv("DOCKPACK_REQUIRE_ENCRYPTION", "")
	t.Setenv(envPassphrase, "from the environment")
	if err := parseAgeFlags(t, true).refuseUnsealed(ctx, writer); !errors.Is(err, seal.ErrNotWired) {
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
