package backuptest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/seal"
)

// AgeKeys are the files of a new X25519 identity: the identity as
// age-keygen writes it (0600) and a recipients file naming its public key.
type AgeKeys struct {
	IdentityFile, RecipientsFile string
	Recipient, Secret            string
}

// MustAgeKeys makes a new identity and writes its files into a temporary
// directory.
func MustAgeKeys(t testing.TB) AgeKeys {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := AgeKeys{IdentityFile: filepath.Join(dir, "key.txt"), RecipientsFile: filepath.Join(dir, "recipients.txt"),
		Recipient: id.Recipient().String(), Secret: id.String()}
	if err := os.WriteFile(k.IdentityFile, []byte("# public key: "+k.Recipient+"\n"+k.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.RecipientsFile, []byte("# backups\n"+k.Recipient+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

// MustSealKeys loads c with seal.Load.
func MustSealKeys(t testing.TB, c seal.Config) *seal.Keys {
	t.Helper()
	k, err := seal.Load(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// MustSealedPackKeys is a pack sealed to a new identity (MustSealedPack)
// in a temporary directory, with the identity's keys and another
// identity's (for the refusals).
func MustSealedPackKeys(t testing.TB) (p *Pack, keys, other *seal.Keys) {
	t.Helper()
	k, o := MustAgeKeys(t), MustAgeKeys(t)
	p = MustSealedPack(t, t.TempDir(), k.Recipient)
	return p, MustSealKeys(t, seal.Config{IdentityFiles: []string{k.IdentityFile}}), MustSealKeys(t, seal.Config{IdentityFiles: []string{o.IdentityFile}})
}

// MustSealedPack is MustPack's pack sealed to recipient (SealPack).
func MustSealedPack(t testing.TB, target, recipient string) *Pack {
	t.Helper()
	p := MustPack(t, target, Created)
	SealPack(t, p, MustSealKeys(t, seal.Config{Recipients: []string{recipient}}))
	return p
}

// SealPack seals p to k's recipients as the classic writer seals: its
// files at <path>.age (the plaintext removed), the components and
// SHA256SUMS over the ciphertext, the manifest's encryption section.
func SealPack(t testing.TB, p *Pack, k *seal.Keys) {
	t.Helper()
	ctx := context.Background()
	m := p.Manifest
	var sums []pack.Sum
	for i, f := range m.Files {
		var buf bytes.Buffer
		dg, err := k.Seal(ctx, &buf, bytes.NewReader(p.Files[f.Path]))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(p.Path(f.Path))
		if err := os.WriteFile(p.Path(f.Path+pack.SealedSuffix), buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		m.Files[i] = pack.FileEntry{Path: f.Path + pack.SealedSuffix, Kind: f.Kind, Size: dg.Size, SHA256: dg.SHA256}
		sums = append(sums, pack.Sum{SHA256: dg.SHA256, Path: m.Files[i].Path})
	}
	m.Encryption = &pack.EncryptionEntry{Scheme: pack.SchemeAge, Recipients: k.Recipients()}
	data, err := pack.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Path(pack.ManifestFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	p.Hash = Hex(data)
	if err := os.WriteFile(p.Path(pack.SumsFile), pack.FormatSums(append(sums, pack.Sum{SHA256: p.Hash, Path: pack.ManifestFile})), 0o600); err != nil {
		t.Fatal(err)
	}
}
