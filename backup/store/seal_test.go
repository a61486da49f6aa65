package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

// ageKeyFiles makes an X25519 identity: its recipient and identity file.
func ageKeyFiles(t testing.TB) (recipient, idFile string) {
	k := backuptest.MustAgeKeys(t)
	return k.Recipient, k.IdentityFile
}

func loadKeys(t testing.TB, c seal.Config) *seal.Keys { return backuptest.MustSealKeys(t, c) }

// ageKeys makes an X25519 identity: the keys that seal to it and those
// that open with it.
func ageKeys(t testing.TB) (sealTo, openWith *seal.Keys) {
	t.Helper()
	r, p := ageKeyFiles(t)
	return loadKeys(t, seal.Config{Recipients: []string{r}}), loadKeys(t, seal.Config{IdentityFiles: []string{p}})
}

func backend(t testing.TB, dir string) *local.Backend {
	t.Helper()
	b, err := local.Open(context.Background(), local.Options{Dir: dir, Owner: owner.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openSealed(t *testing.T, dir string, o store.Options) (*store.Store, error) {
	t.Helper()
	o.BundleSize = 4 << 20
	s, err := store.Open(context.Background(), backend(t, dir), o)
	if err == nil {
		t.Cleanup(func() { s.Close() })
		err = s.LoadIndex(context.Background())
	}
	return s, err
}

// atRest is every byte of every file under dir.
func atRest(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		all = append(all, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestSealedStore: an encrypted store names blobs by HMAC under its naming
// key, seals each compressed frame, records the key's fingerprint and no
// polynomial; nothing at rest holds a fragment of the content or a
// plaintext sha256; reading needs an identity; dedup works.
func TestSealedStore(t *testing.T) {
	ctx := context.Background()
	dir, keyFile := t.TempDir(), filepath.Join(t.TempDir(), "naming.json")
	sealTo, openWith := ageKeys(t)
	s, err := openSealed(t, dir, store.Options{Create: true, Seal: sealTo, NamingKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog; secret row 42\n", 60000)) // ~3.5 MiB, compressible
	data = append(data, randBytes(7, 3<<20)...)
	res := write(t, s, data)
	nk, err := seal.ReadKeyFile(ctx, keyFile, s.Config().ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if cfg.Encryption == nil || cfg.Encryption.KeyFingerprint != nk.Fingerprint() || cfg.Chunker.Polynomial != "" {
		t.Fatalf("config: %+v %+v", cfg.Encryption, cfg.Chunker)
	}
	if res.PlainSHA256 != "" || res.SHA256 == sha(data) {
		t.Fatalf("file checksum %s (plain %s)", res.SHA256, res.PlainSHA256)
	}
	h := nk.NewHash()
	h.Write(data)
	if res.SHA256 != hex.EncodeToString(h.Sum(nil)) {
		t.Fatal("the file's checksum is not the HMAC of its plaintext")
	}
	rest := atRest(t, dir)
	if bytes.Contains(rest, []byte("quick brown fox")) || bytes.Contains(rest, data[len(data)-64:]) || bytes.Contains(rest, []byte(sha(data))) {
		t.Fatal("content or its sha256 at rest")
	}
	var off int64
	for _, c := range res.Chunks {
		chunk := data[off : off+c.Size]
		off += c.Size
		if c.ID != store.ID(nk.Name(chunk)) {
			t.Fatalf("chunk %s is not named by its HMAC", c.ID)
		}
		if bytes.Contains(rest, []byte(sha(chunk))) {
			t.Fatalf("a chunk's plaintext sha256 is at rest")
		}
	}

	// A reader: structure and ciphertext without an identity, content with one.
	r, err := openSealed(t, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r.OpenFile(ctx, res.Chunks)); !errors.Is(err, seal.ErrNoIdentity) {
		t.Fatalf("read without identity: %v", err)
	}
	if cr, err := r.Check(ctx, store.CheckOptions{ReadData: true}); err != nil || len(cr.Damaged) > 0 || cr.BundlesRead == 0 {
		t.Fatalf("structural check: %+v %v", cr, err)
	}
	_, wrong := ageKeys(t)
	if err := r.Unseal(ctx, wrong, sealTo.Recipients()); !errors.Is(err, seal.ErrWrongIdentity) || !strings.Contains(err.Error(), sealTo.Recipients()[0]) {
		t.Fatalf("wrong identity: %v", err)
	}
	if err := r.Unseal(ctx, openWith, sealTo.Recipients()); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r.OpenFile(ctx, res.Chunks))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	if cr, err := r.Check(ctx, store.CheckOptions{ReadData: true}); err != nil || len(cr.Damaged) > 0 {
		t.Fatalf("full check: %+v %v", cr, err)
	}

	// Dedup: the same plaintext gets the same names.
	s2, err := openSealed(t, dir, store.Options{Create: true, Seal: sealTo, NamingKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if res2 := write(t, s2, data); res2.Stats.NewBlobs != 0 || res2.SHA256 != res.SHA256 {
		t.Fatalf("second write: %+v", res2.Stats)
	}
}

// TestSealedStoreRefusals: every refusal happens before anything is
// written to the store.
func TestSealedStoreRefusals(t *testing.T) {
	ctx := context.Background()
	r, idFile := ageKeyFiles(t)
	sealTo := loadKeys(t, seal.Config{Recipients: []string{r}})
	enc, keyFile := t.TempDir(), filepath.Join(t.TempDir(), "naming.json")
	if _, err := openSealed(t, enc, store.Options{Create: true, Seal: sealTo, NamingKeyFile: keyFile}); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	openStore(t, plain)
	other, otherKey := t.TempDir(), filepath.Join(t.TempDir(), "other.json")
	if _, err := openSealed(t, other, store.Options{Create: true, Seal: sealTo, NamingKeyFile: otherKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := openSealed(t, t.TempDir(), store.Options{Create: true, Seal: sealTo, NamingKeyFile: keyFile}); !errors.Is(err, seal.ErrNamingKeyExists) || !strings.Contains(err.Error(), "give a new path") {
		t.Errorf("a new store with an existing key file: %v", err)
	}
	before := len(atRest(t, enc))
	cases := []struct {
		name, dir string
		o         store.Options
		want      error
		says      string
	}{
		{"plaintext run, encrypted store", enc, store.Options{Create: true}, seal.ErrPlaintextRefused, "asks for encryption"},
		{"encrypted run, plaintext store", plain, store.Options{Create: true, Seal: sealTo, NamingKeyFile: keyFile}, seal.ErrNamingKey, "never converted in place"},
		{"another store's key file", enc, store.Options{Create: true, Seal: sealTo, NamingKeyFile: otherKey}, seal.ErrNamingKey, "belongs to store"},
		{"no key file", enc, store.Options{Create: true, Seal: sealTo}, seal.ErrNamingKey, "--age-naming-key"},
		{"missing key file", enc, store.Options{Create: true, Seal: sealTo, NamingKeyFile: filepath.Join(t.TempDir(), "none.json")}, seal.ErrNamingKey, "copy the key file"},
	}
	for _, c := range cases {
		if err := store.CheckWriting(ctx, backend(t, c.dir), c.o); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: CheckWriting: %v", c.name, err)
		}
		if _, err := openSealed(t, c.dir, c.o); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A new backup host: no key file, an identity of the recipients → the
	// key file is recovered from the store's sealed copy (0600).
	_, otherID := ageKeyFiles(t)
	recovered := filepath.Join(t.TempDir(), "recovered.json")
	wrong := loadKeys(t, seal.Config{Recipients: []string{r}, IdentityFiles: []string{otherID}})
	if _, err := openSealed(t, enc, store.Options{Create: true, Seal: wrong, NamingKeyFile: recovered}); !errors.Is(err, seal.ErrWrongIdentity) {
		t.Errorf("recovery with a wrong identity: %v", err)
	}
	if _, err := os.Stat(recovered); !os.IsNotExist(err) {
		t.Errorf("a failed recovery wrote the key file (%v)", err)
	}
	right := loadKeys(t, seal.Config{Recipients: []string{r}, IdentityFiles: []string{idFile}})
	if err := store.CheckWriting(ctx, backend(t, enc), store.Options{Seal: right, NamingKeyFile: recovered}); err != nil {
		t.Errorf("CheckWriting of a run that would recover its key file: %v", err)
	}
	if _, err := os.Stat(recovered); !os.IsNotExist(err) {
		t.Errorf("CheckWriting wrote the key file (%v)", err)
	}
	if _, err := openSealed(t, enc, store.Options{Create: true, Seal: right, NamingKeyFile: recovered}); err != nil {
		t.Errorf("recovery with the identity: %v", err)
	}
	a, _ := os.ReadFile(keyFile)
	b, _ := os.ReadFile(recovered)
	if fi, err := os.Stat(recovered); err != nil || fi.Mode().Perm() != 0o600 || !bytes.Equal(a, b) {
		t.Errorf("the recovered key file: %v %v, same as the original's: %v", fi, err, bytes.Equal(a, b))
	}
	if after := len(atRest(t, enc)); after != before {
		t.Errorf("the encrypted store changed: %d → %d bytes", before, after)
	}
	// A key file of the same store whose key differs: refused by fingerprint.
	var kf map[string]any
	data, _ := os.ReadFile(keyFile)
	if err := json.Unmarshal(data, &kf); err != nil {
		t.Fatal(err)
	}
	kf["key"] = strings.Repeat("ab", 32)
	forged := filepath.Join(t.TempDir(), "forged.json")
	data, _ = json.Marshal(kf)
	if err := os.WriteFile(forged, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openSealed(t, enc, store.Options{Create: true, Seal: sealTo, NamingKeyFile: forged}); !errors.Is(err, seal.ErrNamingKey) || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("forged key: %v", err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSealedStoreCopyAndGC: the sealed naming key travels with a copy of
// the store (CopyNamingKey), and GC repacks an encrypted store without an
// identity (each frame inspected as a well-formed age file), the blobs
// kept still opening with the identity.
func TestSealedStoreCopyAndGC(t *testing.T) {
	ctx := context.Background()
	sealTo, openWith := ageKeys(t)
	dir, keyFile := t.TempDir(), filepath.Join(t.TempDir(), "naming.json")
	s, err := openSealed(t, dir, store.Options{Create: true, Seal: sealTo, NamingKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	keep := write(t, s, randBytes(11, 3<<20))
	drop := write(t, s, randBytes(12, 3<<20))

	dst := t.TempDir()
	if ok, err := store.CopyNamingKey(ctx, backend(t, dir), backend(t, dst)); !ok || err != nil {
		t.Fatalf("copy: %v %v", ok, err)
	}
	if ok, err := store.CopyNamingKey(ctx, backend(t, dir), backend(t, dst)); !ok || err != nil {
		t.Fatalf("copy again: %v %v", ok, err)
	}
	if ok, err := store.CopyNamingKey(ctx, backend(t, t.TempDir()), backend(t, dst)); ok || err != nil {
		t.Fatalf("copy from a plaintext target: %v %v", ok, err)
	}
	if has, err := seal.HasNamingKey(ctx, backend(t, dst)); !has || err != nil {
		t.Fatalf("the copy has no naming key: %v", err)
	}

	r, err := openSealed(t, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[store.ID]bool{}
	for _, c := range keep.Chunks {
		used[c.ID] = true
	}
	dropped := map[store.ID]bool{}
	for _, c := range drop.Chunks {
		dropped[c.ID] = !used[c.ID]
	}
	if _, err := r.GC(ctx, func(id store.ID) bool { return used[id] }); err != nil {
		t.Fatalf("GC without identity: %v", err)
	}
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for id, gone := range dropped {
		if _, ok := r.Index().Lookup(id); ok && gone {
			t.Errorf("blob %s survived GC", id)
		}
	}
	if err := r.Unseal(ctx, openWith, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r.OpenFile(ctx, keep.Chunks)); err != nil || !bytes.Equal(got, randBytes(11, 3<<20)) {
		t.Fatalf("kept file after GC: %v", err)
	}
}
