package pack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/seal"
)

// sealPack turns a backuptest pack into a sealed one as the classic
// writer makes it (backuptest.SealPack); its manifest must validate.
func sealPack(t *testing.T, p *backuptest.Pack, k *seal.Keys) {
	t.Helper()
	backuptest.SealPack(t, p, k)
	data, err := os.ReadFile(p.Path(pack.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pack.ParseManifest(data); err != nil {
		t.Fatalf("the sealed manifest does not validate: %v", err)
	}
}

// keysFor writes identities to a file and loads them (and the recipients).
func keysFor(t *testing.T, recipients []string, ids ...*age.X25519Identity) *seal.Keys {
	t.Helper()
	c := seal.Config{Recipients: recipients}
	if len(ids) > 0 {
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(id.String() + "\n")
		}
		f := filepath.Join(t.TempDir(), "key.txt")
		if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		c.IdentityFiles = []string{f}
	}
	k, err := seal.Load(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerifySealedPack(t *testing.T) {
	ctx := context.Background()
	ops, _ := age.GenerateX25519Identity()
	recovery, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	recips := []string{ops.Recipient().String(), recovery.Recipient().String()}
	p := backuptest.MustPack(t, t.TempDir(), time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	plain := map[string][]byte{}
	for k, v := range p.Files {
		plain[k] = v
	}
	sealPack(t, p, keysFor(t, recips))

	// Nothing at rest holds the database's header or a volume file's content.
	err := filepath.Walk(p.Dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, frag := range []string{"SQLite format 3", "name=demo", "0123456789abcdef0123"} {
			if bytes.Contains(b, []byte(frag)) {
				t.Errorf("%s holds the plaintext %q", path, frag)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Structural, without an identity: every ciphertext sha256 and age header.
	res, err := pack.Verify(ctx, p.Dir, pack.VerifyOptions{Structural: true})
	if err != nil {
		t.Fatalf("structural verify of a sealed pack without an identity: %v", err)
	}
	for _, c := range res.Checks {
		if strings.HasSuffix(c.Path, pack.SealedSuffix) && !strings.Contains(c.Detail, "sealed") {
			t.Errorf("check %s: %q does not say it checked a sealed file", c.Name, c.Detail)
		}
	}
	names := map[string]string{}
	for _, c := range res.Checks {
		names[c.Path] = c.Name
	}
	if names["auth.db.age"] != "sqlite" || names["volumes/demo_data.tar.age"] != "volume:demo_data" || names["compose/docker-compose.yml.age"] != "compose:docker-compose.yml" {
		t.Errorf("checks are not named as the plaintext: %v", names)
	}

	// Full, without an identity: refused, naming what to pass.
	_, err = pack.Verify(ctx, p.Dir, pack.VerifyOptions{})
	if !errors.Is(err, seal.ErrNoIdentity) || !strings.Contains(err.Error(), "--age-identity") || !strings.Contains(err.Error(), recips[1]) {
		t.Fatalf("full verify without identity: %v", err)
	}
	// With another identity: ErrWrongIdentity naming the pack's recipients.
	_, err = pack.Verify(ctx, p.Dir, pack.VerifyOptions{Keys: keysFor(t, nil, other)})
	if !errors.Is(err, seal.ErrWrongIdentity) || !strings.Contains(err.Error(), recips[0]) || !strings.Contains(err.Error(), other.Recipient().String()) {
		t.Fatalf("full verify with a wrong identity: %v", err)
	}
	// With the recovery key: every file opened and checked.
	res, err = pack.Verify(ctx, p.Dir, pack.VerifyOptions{Keys: keysFor(t, nil, recovery)})
	if err != nil {
		t.Fatalf("full verify with the identity: %v", err)
	}
	for _, c := range res.Checks {
		if strings.HasSuffix(c.Path, pack.SealedSuffix) && !strings.Contains(c.Detail, "age identity") {
			t.Errorf("check %s: %q", c.Name, c.Detail)
		}
	}

	// OpenOnce (what Restore asks): the identities are checked, then each
	// file's ciphertext only — no decryption, none without a matching
	// identity.
	if _, err := pack.Verify(ctx, p.Dir, pack.VerifyOptions{OpenOnce: true}); !errors.Is(err, seal.ErrNoIdentity) {
		t.Fatalf("OpenOnce without identity: %v", err)
	}
	if _, err := pack.Verify(ctx, p.Dir, pack.VerifyOptions{OpenOnce: true, Keys: keysFor(t, nil, other)}); !errors.Is(err, seal.ErrWrongIdentity) {
		t.Fatalf("OpenOnce with a wrong identity: %v", err)
	}
	res, err = pack.Verify(ctx, p.Dir, pack.VerifyOptions{OpenOnce: true, Keys: keysFor(t, nil, ops)})
	if err != nil || !res.Structural {
		t.Fatalf("OpenOnce with the identity: structural %v, %v", res.Structural, err)
	}
	for _, c := range res.Checks {
		if strings.HasSuffix(c.Path, pack.SealedSuffix) && !strings.Contains(c.Detail, "sealed") {
			t.Errorf("OpenOnce check %s: %q does not say it checked the sealed file", c.Name, c.Detail)
		}
	}

	// OpenFile and StageFile give the plaintext, looked up by its name.
	d, err := pack.OpenDir(ctx, p.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, _, err := pack.ReadManifest(ctx, p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	fe, ok := m.File("volumes/demo_data.tar")
	if !ok || fe.Path != "volumes/demo_data.tar.age" {
		t.Fatalf("m.File by the plaintext's name: %+v %v", fe, ok)
	}
	if _, err := d.OpenFile(ctx, m, fe); !errors.Is(err, seal.ErrNoIdentity) {
		t.Fatalf("OpenFile without identity: %v", err)
	}
	d.SetKeys(keysFor(t, nil, ops))
	rc, err := d.OpenFile(ctx, m, fe)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, plain["volumes/demo_data.tar"]) {
		t.Fatalf("OpenFile plaintext differs (%v)", err)
	}
	db, _ := m.File(m.SQLite.File)
	open, cleanup, err := d.StageFile(ctx, m, db, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := open("")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(f)
	f.Close()
	cleanup()
	if !bytes.Equal(got, plain["auth.db"]) {
		t.Fatal("StageFile's database differs from the plaintext")
	}

	// A flipped byte: structural and full name the file; OpenFile fails.
	backuptest.MustFlip(t, p.Path("volumes/shared.tar.age"), -40)
	for _, o := range []pack.VerifyOptions{{Structural: true}, {Keys: keysFor(t, nil, ops)}, {OpenOnce: true, Keys: keysFor(t, nil, ops)}} {
		res, err := pack.Verify(ctx, p.Dir, o)
		if !errors.Is(err, pack.ErrVerify) {
			t.Fatalf("structural=%v: damaged pack: %v", o.Structural, err)
		}
		c, ok := rsFailed(res)["volumes/shared.tar.age"]
		if !ok || c.Code != pack.CodeSHA256Mismatch {
			t.Fatalf("structural=%v: failed checks %+v", o.Structural, res.Failed())
		}
	}
	fe, _ = m.File("volumes/shared.tar")
	rc, err = d.OpenFile(ctx, m, fe)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, seal.ErrDamaged) && !errors.Is(err, pack.ErrSealedChanged) {
		t.Fatalf("OpenFile of a damaged sealed file: %v", err)
	}
}

func TestManifestSealedValidate(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	m := *p.Manifest
	m.Encryption = &pack.EncryptionEntry{Scheme: pack.SchemeAge, Recipients: []string{"age1xyz"}}
	// Paths without .age in a sealed pack are refused.
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "ends with .age") {
		t.Fatalf("plaintext paths in a sealed manifest: %v", err)
	}
	for _, e := range []*pack.EncryptionEntry{{Scheme: "gpg", Recipients: []string{"age1x"}}, {Scheme: "age"}, {Scheme: "age", Recipients: []string{"AGE-SECRET-KEY-1X"}}} {
		m := *p.Manifest
		m.Files = nil
		for _, f := range p.Manifest.Files {
			f.Path += pack.SealedSuffix
			m.Files = append(m.Files, f)
		}
		m.Encryption = e
		if err := m.Validate(); !errors.Is(err, pack.ErrManifest) {
			t.Errorf("encryption %+v: %v", e, err)
		}
	}
}
