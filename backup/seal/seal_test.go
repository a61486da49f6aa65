package seal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup/seal"
)

// identity makes an X25519 identity, writes it to an identity file (as
// age-keygen does) and returns the file and the public recipient.
func identity(t testing.TB) (file, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "key.txt")
	content := "# created: test\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, id.Recipient().String()
}

func load(t testing.TB, c seal.Config) *seal.Keys {
	t.Helper()
	k, err := seal.Load(context.Background(), c)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return k
}

func TestParseRecipients(t *testing.T) {
	_, r1 := identity(t)
	_, r2 := identity(t)
	good := "# the ops team\n\n  " + r1 + "  \r\n\t# laptop\n" + r2 + "\n"
	got, err := seal.ParseRecipients(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != r1 || got[1] != r2 {
		t.Fatalf("got %v, want [%s %s]", got, r1, r2)
	}

	id, _ := age.GenerateX25519Identity()
	secret := id.String()
	for name, tc := range map[string]struct {
		in, wantIn string
	}{
		"empty":          {"", "names no recipient"},
		"comments only":  {"# nobody\n\n", "names no recipient"},
		"garbage line 3": {r1 + "\n# x\nhello\n", "line 3"},
		"ssh key":        {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkn test\n", "only X25519"},
		"pq recipient":   {"age1pq1" + strings.Repeat("q", 60) + "\n", "only X25519"},
		"secret key":     {secret + "\n", "secret key"},
		"two on a line":  {r1 + " " + r2 + "\n", "line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := seal.ParseRecipients(strings.NewReader(tc.in))
			if !errors.Is(err, seal.ErrBadRecipient) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("err = %v, want ErrBadRecipient containing %q", err, tc.wantIn)
			}
			if strings.Contains(err.Error(), secret[20:]) {
				t.Fatalf("the error repeats the secret key: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	_, r := identity(t)
	if err := (seal.Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if (seal.Config{}).Encrypts() {
		t.Fatal("the zero config encrypts")
	}
	for name, tc := range map[string]struct {
		c    seal.Config
		want error
	}{
		"bad recipient":          {seal.Config{Recipients: []string{"age1nope"}}, seal.ErrBadRecipient},
		"passphrase + recipient": {seal.Config{Recipients: []string{r}, Passphrase: "x"}, seal.ErrPassphraseAlone},
		"passphrase + file":      {seal.Config{RecipientsFiles: []string{"/r"}, Passphrase: "x"}, seal.ErrPassphraseAlone},
		"work factor":            {seal.Config{Passphrase: "x", ScryptWorkFactor: 40}, seal.ErrInvalidConfig},
		"empty path":             {seal.Config{IdentityFiles: []string{" "}}, seal.ErrInvalidConfig},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Validate()
			if !errors.Is(err, tc.want) || !errors.Is(err, seal.ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want %v (and ErrInvalidConfig)", err, tc.want)
			}
		})
	}
	if err := (seal.Config{Recipients: []string{r}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	idFile, r1 := identity(t)
	_, r2 := identity(t)
	rf := filepath.Join(t.TempDir(), "recipients.txt")
	if err := os.WriteFile(rf, []byte("# team\n"+r2+"\n"+r1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := load(t, seal.Config{Recipients: []string{r1}, RecipientsFiles: []string{rf}, IdentityFiles: []string{idFile}})
	if got := k.Recipients(); len(got) != 2 || got[0] != r1 || got[1] != r2 {
		t.Fatalf("Recipients = %v, want [%s %s] (deduplicated, in order)", got, r1, r2)
	}
	if got := k.IdentityRecipients(); len(got) != 1 || got[0] != r1 {
		t.Fatalf("IdentityRecipients = %v, want [%s]", got, r1)
	}
	if !k.Encrypts() || !k.Opens() || !k.CanOpen([]string{r2, r1}) || k.CanOpen([]string{r2}) {
		t.Fatal("Encrypts/Opens/CanOpen disagree with the keys loaded")
	}
	var nilKeys *seal.Keys
	if nilKeys.Encrypts() || nilKeys.Opens() || nilKeys.Recipients() != nil {
		t.Fatal("nil keys seal or open")
	}

	if _, err := seal.Load(context.Background(), seal.Config{RecipientsFiles: []string{filepath.Join(t.TempDir(), "absent")}}); err == nil {
		t.Fatal("a missing recipients file was accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	if _, err := seal.Load(context.Background(), seal.Config{IdentityFiles: []string{bad}}); !errors.Is(err, seal.ErrBadIdentity) {
		t.Fatalf("a bad identity file: %v, want ErrBadIdentity", err)
	}
	if _, err := seal.Load(context.Background(), seal.Config{IdentityFiles: []string{rf}}); !errors.Is(err, seal.ErrBadIdentity) {
		t.Fatalf("a recipients file given as identity: %v, want ErrBadIdentity", err)
	}
}

// sqliteLike is plaintext that starts like a SQLite database and carries a
// known fragment, to look for at rest.
func sqliteLike(n int) []byte {
	b := make([]byte, n)
	copy(b, "SQLite format 3\x00")
	for i := 16; i < n; i++ {
		b[i] = byte(i*7 + i/251)
	}
	if n > 200 {
		copy(b[100:], "users:alice:$2y$10$known-password-hash")
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	id1, r1 := identity(t)
	id2, r2 := identity(t)
	sealer := load(t, seal.Config{Recipients: []string{r1, r2}})
	for _, size := range []int{0, 1, 200, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1<<20 + 7} {
		plain := sqliteLike(size)
		var at bytes.Buffer
		d, err := sealer.Seal(ctx, &at, bytes.NewReader(plain))
		if err != nil {
			t.Fatalf("size %d: Seal: %v", size, err)
		}
		sum := sha256.Sum256(at.Bytes())
		if d.SHA256 != hex.EncodeToString(sum[:]) || d.Size != int64(at.Len()) || d.PlainSize != int64(size) {
			t.Fatalf("size %d: digest %+v, want the ciphertext's sha256 %x and size %d, plain %d", size, d, sum, at.Len(), size)
		}
		if size >= 16 && bytes.Contains(at.Bytes(), plain[:16]) {
			t.Fatalf("size %d: the ciphertext holds plaintext", size)
		}
		if size > 200 && bytes.Contains(at.Bytes(), []byte("known-password-hash")) {
			t.Fatalf("size %d: the ciphertext holds a known fragment", size)
		}
		for _, idf := range []string{id1, id2} {
			opener := load(t, seal.Config{IdentityFiles: []string{idf}})
			var back bytes.Buffer
			od, err := opener.Open(ctx, &back, bytes.NewReader(at.Bytes()), sealer.Recipients())
			if err != nil {
				t.Fatalf("size %d: Open: %v", size, err)
			}
			if !bytes.Equal(back.Bytes(), plain) {
				t.Fatalf("size %d: the plaintext differs after the round trip", size)
			}
			if od.SHA256 != d.SHA256 || od.Size != d.Size || od.PlainSize != int64(size) {
				t.Fatalf("size %d: the reader's digest %+v differs from the writer's %+v", size, od, d)
			}
		}
	}
}

func TestPassphraseRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := load(t, seal.Config{Passphrase: "correct horse battery staple", ScryptWorkFactor: seal.MinScryptWorkFactor})
	if got := k.Recipients(); len(got) != 1 || got[0] != seal.PassphraseRecipient {
		t.Fatalf("Recipients = %v", got)
	}
	plain := sqliteLike(100 << 10)
	var at, back bytes.Buffer
	if _, err := k.Seal(ctx, &at, bytes.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(ctx, &back, bytes.NewReader(at.Bytes()), nil); err != nil || !bytes.Equal(back.Bytes(), plain) {
		t.Fatalf("Open with the passphrase: %v (equal %v)", err, bytes.Equal(back.Bytes(), plain))
	}
	wrong := load(t, seal.Config{Passphrase: "wrong", ScryptWorkFactor: seal.MinScryptWorkFactor})
	if _, err := wrong.Open(ctx, io.Discard, bytes.NewReader(at.Bytes()), nil); !errors.Is(err, seal.ErrWrongIdentity) {
		t.Fatalf("a wrong passphrase: %v, want ErrWrongIdentity", err)
	}
}

func TestWrongIdentity(t *testing.T) {
	ctx := context.Background()
	_, r1 := identity(t)
	_, r2 := identity(t)
	other, rOther := identity(t)
	sealer := load(t, seal.Config{Recipients: []string{r1, r2}})
	var at bytes.Buffer
	if _, err := sealer.Seal(ctx, &at, strings.NewReader("secret")); err != nil {
		t.Fatal(err)
	}
	opener := load(t, seal.Config{IdentityFiles: []string{other}})
	_, err := opener.Decrypt(ctx, bytes.NewReader(at.Bytes()), sealer.Recipients())
	if !errors.Is(err, seal.ErrWrongIdentity) {
		t.Fatalf("Decrypt with another identity: %v, want ErrWrongIdentity", err)
	}
	var nomatch *age.NoIdentityMatchError
	if !errors.As(err, &nomatch) {
		t.Fatalf("the cause is lost: %v", err)
	}
	for _, want := range []string{r1, r2, rOther} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error does not name %s: %v", want, err)
		}
	}
	t.Logf("wrong identity: %v", err)

	if _, err := load(t, seal.Config{}).Decrypt(ctx, bytes.NewReader(at.Bytes()), nil); !errors.Is(err, seal.ErrNoIdentity) {
		t.Fatalf("Decrypt without identity: %v, want ErrNoIdentity", err)
	}
	if _, err := opener.Decrypt(ctx, strings.NewReader("SQLite format 3\x00 plain"), nil); !errors.Is(err, seal.ErrNotEncrypted) {
		t.Fatalf("Decrypt of plaintext: %v, want ErrNotEncrypted", err)
	}
	if _, err := load(t, seal.Config{}).Encrypt(ctx, io.Discard); !errors.Is(err, seal.ErrPlaintextRefused) {
		t.Fatalf("Encrypt without recipient: %v, want ErrPlaintextRefused", err)
	}
}

func TestDamagedCiphertext(t *testing.T) {
	ctx := context.Background()
	idf, r := identity(t)
	k := load(t, seal.Config{Recipients: []string{r}, IdentityFiles: []string{idf}})
	var at bytes.Buffer
	if _, err := k.Seal(ctx, &at, bytes.NewReader(sqliteLike(200<<10))); err != nil {
		t.Fatal(err)
	}
	good := at.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)-100] ^= 1
	for name, data := range map[string][]byte{
		"flipped byte": flipped,
		"truncated":    good[:len(good)-1000],
		"trailing":     append(bytes.Clone(good), "more"...),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := k.Open(ctx, io.Discard, bytes.NewReader(data), nil)
			if !errors.Is(err, seal.ErrDamaged) {
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	_, r := identity(t)
	k := load(t, seal.Config{Recipients: []string{r}})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := k.Encrypt(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write([]byte("b")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel: %v", err)
	}
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close after a failed write: %v", err)
	}
}

func TestDecide(t *testing.T) {
	for name, tc := range map[string]struct {
		r        seal.Run
		seal     bool
		want     error
		mentions string
	}{
		"plain, as asked":           {seal.Run{}, false, nil, ""},
		"sealed":                    {seal.Run{Encrypts: true, WriterSeals: true}, true, nil, ""},
		"required, sealed":          {seal.Run{Required: true, Encrypts: true, WriterSeals: true}, true, nil, ""},
		"required, no recipient":    {seal.Run{Required: true, RequiredBy: "the encrypted store in s3://b/p"}, false, seal.ErrPlaintextRefused, "--age-recipient"},
		"required by default":       {seal.Run{Required: true, WriterSeals: true}, false, seal.ErrPlaintextRefused, "the configuration asks"},
		"recipients, writer cannot": {seal.Run{Encrypts: true, Writer: "classic pack to a directory"}, false, seal.ErrNotWired, "classic pack to a directory"},
		"required, writer cannot":   {seal.Run{Required: true, RequiredBy: "setting x", Encrypts: true}, false, seal.ErrNotWired, "setting x asks"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := seal.Decide(tc.r)
			if got != tc.seal || !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Decide = %v, %v; want %v, %v", got, err, tc.seal, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("the error does not say %q: %v", tc.mentions, err)
			}
		})
	}
	_, r := identity(t)
	if s, err := (seal.Config{Required: true}).Decide("w", true); s || !errors.Is(err, seal.ErrPlaintextRefused) {
		t.Fatalf("Config.Decide without recipients: %v %v", s, err)
	}
	if s, err := (seal.Config{Recipients: []string{r}}).Decide("w", false); s || !errors.Is(err, seal.ErrNotWired) {
		t.Fatalf("Config.Decide with an unwired writer: %v %v", s, err)
	}
}

func TestKeysFileTooLarge(t *testing.T) {
	_, r := identity(t)
	big := strings.Repeat("# padding padding padding padding padding padding padding\n", 20000) + r + "\n"
	if _, err := seal.ParseRecipients(strings.NewReader(big)); !errors.Is(err, seal.ErrBadRecipient) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 1 MiB+ recipients file: %v, want ErrBadRecipient (larger than)", err)
	}
}
