package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// ageFlags are the encryption-at-rest flags (issue 16, docs/encryption.md),
// parsed into a seal.Config. The classic writer seals files and the store
// writer blobs to the recipients (a store backup with the naming key file,
// --age-naming-key); a run asked to require encryption without a
// recipient, or a sealed store backup without a naming key file, is
// refused before anything is written — never plaintext in its place.
//
// A command binds them with bindWrite (backup, plan) or bindRead (restore,
// verify, export) and calls applyWrite (writers) or readKeys (readers)
// first thing in its RunE.
type ageFlags struct {
	recipients      []string
	recipientsFiles []string
	passphraseFile  string
	identities      []string
	namingKey       string
	require         bool
}

// envPassphrase holds a passphrase for scripts that cannot use a file (a
// flag would show it in ps).
const envPassphrase = "DOCKPACK_AGE_PASSPHRASE"

func (a *ageFlags) bindCommon(fs *pflag.FlagSet) {
	fs.StringVar(&a.passphraseFile, "age-passphrase-file", envOr("DOCKPACK_AGE_PASSPHRASE_FILE", ""),
		"seal to (or open with) the passphrase in this file instead of keys: for people, not scripts ($DOCKPACK_AGE_PASSPHRASE_FILE; or $"+envPassphrase+")")
}

// bindWrite binds the flags of commands that write packs.
func (a *ageFlags) bindWrite(fs *pflag.FlagSet) {
	fs.StringArrayVar(&a.recipients, "age-recipient", nil, "seal the pack to this age X25519 recipient (age1…); repeatable")
	fs.StringArrayVar(&a.recipientsFiles, "age-recipients-file", splitEnv("DOCKPACK_AGE_RECIPIENTS_FILE"),
		"seal the pack to the recipients in this file (one per line, # comments); repeatable ($DOCKPACK_AGE_RECIPIENTS_FILE)")
	fs.StringVar(&a.namingKey, "age-naming-key", envOr("DOCKPACK_AGE_NAMING_KEY", ""),
		"with --format store and recipients: the encrypted pack store's naming key file (0600), made with the store, read by every later backup to it ($DOCKPACK_AGE_NAMING_KEY)")
	fs.StringArrayVar(&a.identities, "age-identity", nil,
		"with --format store and recipients: recover a missing --age-naming-key file from the store's sealed copy with this identity (a new backup host); repeatable")
	fs.BoolVar(&a.require, "require-encryption", envOr("DOCKPACK_REQUIRE_ENCRYPTION", "") == "1",
		"refuse to write a pack that is not sealed ($DOCKPACK_REQUIRE_ENCRYPTION=1)")
	a.bindCommon(fs)
}

// bindRead binds the flags of commands that read packs.
func (a *ageFlags) bindRead(fs *pflag.FlagSet) {
	fs.StringArrayVar(&a.identities, "age-identity", splitEnv("DOCKPACK_AGE_IDENTITY"),
		"open sealed packs with the age identities in this file (age-keygen's output); repeatable ($DOCKPACK_AGE_IDENTITY)")
	a.bindCommon(fs)
}

// splitEnv reads a comma-separated list of paths from the environment.
func splitEnv(key string) []string {
	var out []string
	for _, p := range strings.Split(os.Getenv(key), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// config turns the flags into a validated seal.Config; what cannot be used
// as given is a usage error (exit 2).
func (a *ageFlags) config() (seal.Config, error) {
	c := seal.Config{
		Recipients:      a.recipients,
		RecipientsFiles: a.recipientsFiles,
		IdentityFiles:   a.identities,
		NamingKeyFile:   a.namingKey,
		Required:        a.require,
		RequiredBy:      "--require-encryption",
	}
	switch {
	case a.passphraseFile != "":
		data, err := os.ReadFile(a.passphraseFile)
		if err != nil {
			return seal.Config{}, usageError{fmt.Errorf("--age-passphrase-file: %w", err)}
		}
		c.Passphrase = strings.TrimRight(string(data), "\r\n")
		if c.Passphrase == "" {
			return seal.Config{}, usageError{fmt.Errorf("--age-passphrase-file %s is empty", a.passphraseFile)}
		}
	case os.Getenv(envPassphrase) != "":
		c.Passphrase = os.Getenv(envPassphrase)
	}
	if err := c.Validate(); err != nil {
		return seal.Config{}, usageError{err}
	}
	return c, nil
}

// keys loads the recipients and identity files: a missing or malformed
// file is a usage error.
func (a *ageFlags) keys(ctx context.Context) (*seal.Keys, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	k, err := seal.Load(ctx, c)
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, context.Canceled):
		return nil, err
	case errors.Is(err, seal.ErrInvalidConfig), errors.Is(err, seal.ErrBadRecipient), errors.Is(err, seal.ErrBadIdentity), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, usageError{err}
	}
	return nil, err
}

// applyWrite gives a backup spec the age flags: the recipients loaded
// (spec.Seal; a bad or missing recipients file is a usage error, exit 2)
// and --require-encryption (spec.RequireEncryption); then the
// no-silent-plaintext rule (backup.Spec.DecideSeal) refuses, before
// anything is written (exit 3), a run required to encrypt without a
// recipient, and a sealed store backup without --age-naming-key; and what
// a directory target's pack store asks (Spec.CheckTargetSeal). backup.Run
// decides again; this makes plan say it too.
func (a *ageFlags) applyWrite(ctx context.Context, spec *backup.Spec) error {
	c, err := a.config()
	if err != nil {
		return err
	}
	spec.Seal, spec.RequireEncryption, spec.NamingKeyFile = nil, "", ""
	if a.namingKey != "" {
		spec.NamingKeyFile = fsutil.Abs(a.namingKey)
	}
	if c.Encrypts() {
		k, err := a.keys(ctx)
		if err != nil {
			return err
		}
		spec.Seal = k
	}
	if a.require {
		spec.RequireEncryption = "--require-encryption"
		if os.Getenv("DOCKPACK_REQUIRE_ENCRYPTION") == "1" {
			spec.RequireEncryption += " ($DOCKPACK_REQUIRE_ENCRYPTION=1)"
		}
	}
	if _, err = spec.DecideSeal(); err != nil {
		return err
	}
	return spec.CheckTargetSeal(ctx) // what the target's pack store asks (plan says it before the backup would)
}

// readKeys loads the identities (--age-identity, or the passphrase) that
// open sealed packs: nil when none is given (a sealed pack is then refused
// by the reader, naming --age-identity). A missing or malformed identity
// file is a usage error.
func (a *ageFlags) readKeys(ctx context.Context) (*seal.Keys, error) {
	k, err := a.keys(ctx)
	if err != nil || !k.Opens() {
		return nil, err
	}
	return k, nil
}
