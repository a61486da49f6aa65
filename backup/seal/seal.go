// Package seal makes the content of a pack useless to whoever finds it:
// encryption at rest with age (filippo.io/age), the store's naming key,
// and the rule that a run asked to encrypt never writes plaintext
// (docs/encryption.md).
//
//   - Config names the recipients (X25519 public keys "age1…", given one
//     by one or in recipients files), an optional scrypt passphrase, the
//     identities that decrypt (identity files) and the naming key file;
//     Load turns it into Keys.
//   - Keys.Encrypt wraps an io.Writer and Keys.Decrypt an io.Reader; both
//     stream in age's 64 KiB chunks (bounded memory, whatever the size) and
//     report the sha256 and size of the ciphertext as it passes: a manifest
//     records ciphertext checksums, never plaintext hashes. Inspect checks a
//     sealed file without an identity (header, stanzas, ciphertext sha256).
//   - NamingKey names the store's blobs by HMAC-SHA256(naming key,
//     plaintext), so a blob name reveals nothing of its content. The key is
//     made once when the store is created (InitNamingKey), kept 0600 in a key
//     file on the writing host, and stored in the store encrypted to the
//     recipients (NamingKeyObject), where a host holding an identity recovers
//     it (RecoverNamingKey). A backup host never needs an identity. The
//     store's chunker polynomial is derived from the key (Polynomial), so
//     chunk boundaries give nothing away either.
//   - Decide is the "no silent plaintext" rule: a target or setting that
//     asks for encryption and a run that would write plaintext is refused
//     before anything is written (ErrPlaintextRefused), and so is a run that
//     would encrypt through a writer that cannot (ErrNotWired).
//
// Every error wraps one of the sentinels below.
package seal

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// Sentinels. Callers map them to exit codes and HTTP statuses in one place.
var (
	// ErrBadRecipient: a recipient (flag, setting or line of a recipients
	// file) is not an X25519 age recipient.
	ErrBadRecipient = errors.New("not an age X25519 recipient")
	// ErrBadIdentity: an identity file holds no usable age identity.
	ErrBadIdentity = errors.New("not an age identity")
	// ErrPassphraseAlone: age seals a file to a passphrase only when the
	// passphrase is its one recipient (anyone holding one of the other
	// recipients' identities could otherwise re-seal it unnoticed).
	ErrPassphraseAlone = errors.New("a passphrase cannot be combined with age recipients")
	// ErrNoIdentity: decryption was asked for without any identity or
	// passphrase.
	ErrNoIdentity = errors.New("no age identity given")
	// ErrWrongIdentity: none of the identities given opens the file; the
	// message names the recipients the file expects when they are known.
	ErrWrongIdentity = errors.New("no age identity given matches the recipients")
	// ErrNotEncrypted: the input is not an age file (or its header is
	// damaged).
	ErrNotEncrypted = errors.New("not an age-encrypted file")
	// ErrDamaged: the ciphertext fails age's authentication (truncated,
	// altered or trailing data).
	ErrDamaged = errors.New("age ciphertext damaged")
	// ErrPlaintextRefused: encryption is asked for (by the target or a
	// setting) and the run has no recipient: nothing is written.
	ErrPlaintextRefused = errors.New("encryption is required and no recipient is set: refusing to write plaintext")
	// ErrNotWired: the run has recipients but the writer it would use does
	// not encrypt yet: nothing is written rather than plaintext.
	ErrNotWired = errors.New("encryption is not wired into the writers yet")
	// ErrNamingKey: the naming key file or the store's copy is missing,
	// unreadable, of another store, or not private (0600).
	ErrNamingKey = errors.New("store naming key")
	// ErrNamingKeyExists: the store (or the key file) already has a naming
	// key; a second one is never made.
	ErrNamingKeyExists = errors.New("the store already has a naming key")
	// ErrInvalidConfig: the configuration cannot be used as given.
	ErrInvalidConfig = errors.New("invalid encryption config")
)

// Defaults.
const (
	// DefaultScryptWorkFactor is age's own (log2 of scrypt's N): about a
	// second on a laptop.
	DefaultScryptWorkFactor = 18
	// MinScryptWorkFactor is the lowest accepted (tests may use it).
	MinScryptWorkFactor = 10
	// MaxScryptWorkFactor bounds what a passphrase-sealed file may ask of
	// the machine that opens it.
	MaxScryptWorkFactor = 22
)

// Config is what the CLI flags and the daemon's settings say about
// encryption. The zero Config encrypts nothing and requires nothing.
type Config struct {
	// Recipients are X25519 public keys ("age1…"), from --age-recipient.
	Recipients []string
	// RecipientsFiles are paths of recipients files (--age-recipients-file):
	// one recipient per line; blank lines and lines starting with # are
	// ignored.
	RecipientsFiles []string
	// Passphrase, when set, seals to an scrypt passphrase instead: it must
	// then be the only recipient (ErrPassphraseAlone). It also opens what a
	// passphrase sealed.
	Passphrase string
	// ScryptWorkFactor is log2 of scrypt's N for a passphrase. Default 18.
	ScryptWorkFactor int
	// IdentityFiles are paths of age identity files (--age-identity),
	// needed to decrypt: restore, full verify, drills, export, and to
	// recover the naming key.
	IdentityFiles []string
	// Required says that the target or a setting demands encryption: a run
	// without recipients is refused (Decide).
	Required bool
	// RequiredBy names what demands it, for the refusal's message
	// ("setting encryption.required", "the store in s3://b/p").
	RequiredBy string
	// NamingKeyFile is the store naming key's file (0600) on a writing
	// host. Default: none (the caller chooses one in its state dir).
	NamingKeyFile string
}

func (c *Config) applyDefaults() {
	c.ScryptWorkFactor = cmp.Or(c.ScryptWorkFactor, DefaultScryptWorkFactor)
	if c.Required && c.RequiredBy == "" {
		c.RequiredBy = "the configuration"
	}
}

// Encrypts reports whether the config seals what is written (it has a
// recipient or a passphrase).
func (c Config) Encrypts() bool {
	return len(c.Recipients) > 0 || len(c.RecipientsFiles) > 0 || c.Passphrase != ""
}

// Validate checks the config (after defaults) without reading any file:
// every error wraps ErrInvalidConfig, and ErrBadRecipient or
// ErrPassphraseAlone where they apply.
func (c Config) Validate() error {
	c.applyDefaults()
	var errs []error
	for _, r := range c.Recipients {
		if _, err := parseRecipient(r); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Passphrase != "" && (len(c.Recipients) > 0 || len(c.RecipientsFiles) > 0) {
		errs = append(errs, fmt.Errorf("%w: use either --age-passphrase-file or --age-recipient/--age-recipients-file", ErrPassphraseAlone))
	}
	if c.ScryptWorkFactor < MinScryptWorkFactor || c.ScryptWorkFactor > MaxScryptWorkFactor {
		errs = append(errs, fmt.Errorf("scrypt work factor %d: between %d and %d", c.ScryptWorkFactor, MinScryptWorkFactor, MaxScryptWorkFactor))
	}
	for _, p := range append(append([]string(nil), c.RecipientsFiles...), c.IdentityFiles...) {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, errors.New("an empty file path was given for a recipients or identity file"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
