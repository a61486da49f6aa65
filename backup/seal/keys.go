package seal

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"filippo.io/age"
)

// PassphraseRecipient is how a passphrase recipient is listed among the
// public recipients (a manifest records it; it reveals nothing).
const PassphraseRecipient = "scrypt"

// maxKeysFile bounds a recipients or identity file (they are a few lines).
const maxKeysFile = 1 << 20

// Keys are a loaded Config: the recipients that seal, the identities that
// open. The zero Keys (or nil) seals nothing and opens nothing.
type Keys struct {
	recipients []age.Recipient
	public     []string
	identities []age.Identity
	idPublic   []string
}

// ParseRecipients reads a recipients file: one X25519 recipient ("age1…")
// per line; blank lines and lines whose first non-blank character is #
// are ignored; surrounding white space is trimmed. Anything else fails
// with ErrBadRecipient naming the line (never its content past a short
// prefix: a pasted secret key must not end up in a log). An empty file
// (no recipient) is an error too: a recipients file exists to name some.
func ParseRecipients(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(&capped{r: r, left: maxKeysFile})
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rec, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, rec.String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: reading the recipients file: %w", ErrBadRecipient, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the recipients file names no recipient", ErrBadRecipient)
	}
	return out, nil
}

// capped reads r and fails past left bytes (a keys file is small: a
// larger one is refused, not cut).
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("larger than %d bytes", maxKeysFile)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// parseRecipient parses one X25519 recipient.
func parseRecipient(s string) (*age.X25519Recipient, error) {
	s = strings.TrimSpace(s)
	rec, err := age.ParseX25519Recipient(s)
	if err == nil {
		return rec, nil
	}
	switch {
	case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"):
		return nil, fmt.Errorf("%w: this is a secret key (an identity), not a recipient: give its public key (age-keygen -y)", ErrBadRecipient)
	case strings.HasPrefix(s, "ssh-"), strings.HasPrefix(s, "age1"):
		return nil, fmt.Errorf("%w: %q: only X25519 recipients (age1… as age-keygen prints them) are supported, not SSH, post-quantum or plugin recipients", ErrBadRecipient, short(s))
	}
	return nil, fmt.Errorf("%w: %q", ErrBadRecipient, short(s))
}

// short cuts s for an error message.
func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// Load reads the recipients files and identity files of c and returns the
// keys. c is validated first. ctx is checked between files.
func Load(ctx context.Context, c Config) (*Keys, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.applyDefaults()
	k := &Keys{}
	add := func(s string) error {
		rec, err := parseRecipient(s)
		if err != nil {
			return err
		}
		if !slices.Contains(k.public, rec.String()) {
			k.public = append(k.public, rec.String())
			k.recipients = append(k.recipients, rec)
		}
		return nil
	}
	for _, r := range c.Recipients {
		if err := add(r); err != nil {
			return nil, fmt.Errorf("--age-recipient: %w", err)
		}
	}
	for _, p := range c.RecipientsFiles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, err := readFile(p, ParseRecipients)
		if err != nil {
			return nil, fmt.Errorf("recipients file %s: %w", p, err)
		}
		for _, r := range recs {
			if err := add(r); err != nil {
				return nil, fmt.Errorf("recipients file %s: %w", p, err)
			}
		}
	}
	if c.Passphrase != "" {
		rec, err := age.NewScryptRecipient(c.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("%w: passphrase: %w", ErrInvalidConfig, err)
		}
		rec.SetWorkFactor(c.ScryptWorkFactor)
		k.recipients = append(k.recipients, rec)
		k.public = append(k.public, PassphraseRecipient)
		id, err := age.NewScryptIdentity(c.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("%w: passphrase: %w", ErrInvalidConfig, err)
		}
		id.SetMaxWorkFactor(MaxScryptWorkFactor)
		k.identities = append(k.identities, id)
		k.idPublic = append(k.idPublic, PassphraseRecipient)
	}
	for _, p := range c.IdentityFiles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ids, err := readFile(p, ParseIdentities)
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", p, err)
		}
		for _, id := range ids {
			k.identities = append(k.identities, id)
			k.idPublic = append(k.idPublic, identityPublic(id))
		}
	}
	return k, nil
}

// ParseIdentities reads an age identity file (age-keygen's output: lines
// "AGE-SECRET-KEY-1…", # comments, blank lines). X25519 identities only;
// ErrBadIdentity otherwise.
func ParseIdentities(r io.Reader) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(&capped{r: r, left: maxKeysFile})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadIdentity, err)
	}
	for _, id := range ids {
		if _, ok := id.(*age.X25519Identity); !ok {
			return nil, fmt.Errorf("%w: only X25519 identities (AGE-SECRET-KEY-1…) are supported", ErrBadIdentity)
		}
	}
	return ids, nil
}

func identityPublic(id age.Identity) string {
	if x, ok := id.(*age.X25519Identity); ok {
		return x.Recipient().String()
	}
	return "?"
}

// readFile opens path and parses it with parse.
func readFile[T any](path string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f)
}

// Encrypts reports whether k seals (has a recipient).
func (k *Keys) Encrypts() bool { return k != nil && len(k.recipients) > 0 }

// Opens reports whether k can decrypt (has an identity or a passphrase).
func (k *Keys) Opens() bool { return k != nil && len(k.identities) > 0 }

// Recipients are the public recipients, in the order given, without
// duplicates ("scrypt" for a passphrase): what a manifest records.
func (k *Keys) Recipients() []string {
	if k == nil {
		return nil
	}
	return slices.Clone(k.public)
}

// IdentityRecipients are the public keys of the identities held ("scrypt"
// for a passphrase): doctor compares them with a target's recipients.
func (k *Keys) IdentityRecipients() []string {
	if k == nil {
		return nil
	}
	return slices.Clone(k.idPublic)
}

// CanOpen reports whether one of k's identities belongs to one of
// recipients (as a manifest lists them) — without reading any file.
func (k *Keys) CanOpen(recipients []string) bool {
	if k == nil {
		return false
	}
	for _, p := range k.idPublic {
		if slices.Contains(recipients, p) {
			return true
		}
	}
	return false
}

// wrongIdentity is ErrWrongIdentity naming what was expected and held.
func (k *Keys) wrongIdentity(expected []string, cause error) error {
	var b strings.Builder
	b.WriteString(ErrWrongIdentity.Error())
	if len(expected) > 0 {
		fmt.Fprintf(&b, ": the file is sealed to %s", strings.Join(expected, ", "))
	}
	if k != nil && len(k.idPublic) > 0 {
		fmt.Fprintf(&b, "; the identities given are those of %s", strings.Join(k.idPublic, ", "))
	}
	return &sentinelError{msg: b.String(), is: ErrWrongIdentity, cause: cause}
}

// sentinelError is an error with its own message that is one sentinel
// (errors.Is) and keeps its cause (errors.As).
type sentinelError struct {
	msg   string
	is    error
	cause error
}

func (e *sentinelError) Error() string   { return e.msg }
func (e *sentinelError) Unwrap() []error { return []error{e.is, e.cause} }

// CheckOpens says, without reading any file, whether k can open what is
// sealed to recipients (as a manifest lists them): nil when one of k's
// identities is one of them; ErrNoIdentity (naming --age-identity) when k
// has none; ErrWrongIdentity naming the recipients and the identities'
// public keys otherwise.
func (k *Keys) CheckOpens(recipients []string) error {
	if !k.Opens() {
		return fmt.Errorf("%w: the pack is sealed to %s: give --age-identity FILE with the identity of one of them (or the passphrase file, for a pack sealed to a passphrase)",
			ErrNoIdentity, strings.Join(recipients, ", "))
	}
	if k.CanOpen(recipients) {
		return nil
	}
	return k.wrongIdentity(recipients, nil)
}
