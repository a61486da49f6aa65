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

	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
)

// target opens a real local backend on a fresh directory.
func target(t *testing.T) (storage.Backend, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := local.Open(context.Background(), local.Options{Dir: dir, Owner: "sealtest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

func TestNamingKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	b, dir := target(t)
	idFile, r := identity(t)
	otherID, _ := identity(t)
	writer := load(t, seal.Config{Recipients: []string{r}}) // a backup host: recipients, no identity
	keyFile := filepath.Join(t.TempDir(), "naming.key")

	if has, err := seal.HasNamingKey(ctx, b); err != nil || has {
		t.Fatalf("HasNamingKey on an empty target = %v, %v", has, err)
	}
	n, err := seal.InitNamingKey(ctx, b, keyFile, "store-1", writer)
	if err != nil {
		t.Fatal(err)
	}
	if has, err := seal.HasNamingKey(ctx, b); err != nil || !has {
		t.Fatalf("HasNamingKey after init = %v, %v", has, err)
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, st.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(keyFile))
	if len(entries) != 1 {
		t.Fatalf("the key file's directory holds %d entries (a temporary file left?)", len(entries))
	}

	// The key file reads back, for its store only.
	got, err := seal.ReadKeyFile(ctx, keyFile, "store-1")
	if err != nil || got.Fingerprint() != n.Fingerprint() || got.StoreID() != "store-1" {
		t.Fatalf("ReadKeyFile = %v, %v", got, err)
	}
	if _, err := seal.ReadKeyFile(ctx, keyFile, "store-2"); !errors.Is(err, seal.ErrNamingKey) || !strings.Contains(err.Error(), "store-2") {
		t.Fatalf("ReadKeyFile for another store: %v, want ErrNamingKey naming it", err)
	}

	// Never a second key: neither in the store nor in the file.
	if _, err := seal.InitNamingKey(ctx, b, filepath.Join(t.TempDir(), "k"), "store-1", writer); !errors.Is(err, seal.ErrNamingKeyExists) {
		t.Fatalf("a second init in the store: %v, want ErrNamingKeyExists", err)
	}
	b2, _ := target(t)
	if _, err := seal.InitNamingKey(ctx, b2, keyFile, "store-x", writer); !errors.Is(err, seal.ErrNamingKeyExists) {
		t.Fatalf("an init over an existing key file: %v, want ErrNamingKeyExists", err)
	}
	if err := seal.WriteKeyFile(ctx, keyFile, n); !errors.Is(err, seal.ErrNamingKeyExists) {
		t.Fatalf("WriteKeyFile over an existing file: %v, want ErrNamingKeyExists", err)
	}

	// The sealed copy at rest holds neither the key nor anything plain.
	sealed, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(seal.NamingKeyObject)))
	if err != nil {
		t.Fatal(err)
	}
	plainFile, _ := os.ReadFile(keyFile)
	if bytes.Contains(sealed, []byte("dockpack-naming-key")) || bytes.Contains(sealed, []byte("store-1")) || bytes.Contains(sealed, plainFile[len(plainFile)-40:]) {
		t.Fatal("the store's copy of the naming key is not sealed")
	}

	// A restoring host recovers it with an identity; a wrong one is told.
	rec, err := seal.RecoverNamingKey(ctx, b, load(t, seal.Config{IdentityFiles: []string{idFile}}), "store-1", []string{r})
	if err != nil || rec.Fingerprint() != n.Fingerprint() {
		t.Fatalf("RecoverNamingKey = %v, %v", rec, err)
	}
	if _, err := seal.RecoverNamingKey(ctx, b, load(t, seal.Config{IdentityFiles: []string{otherID}}), "store-1", []string{r}); !errors.Is(err, seal.ErrWrongIdentity) || !strings.Contains(err.Error(), r) {
		t.Fatalf("RecoverNamingKey with a wrong identity: %v, want ErrWrongIdentity naming %s", err, r)
	}
	if _, err := seal.RecoverNamingKey(ctx, b, writer, "store-1", nil); !errors.Is(err, seal.ErrNoIdentity) {
		t.Fatalf("RecoverNamingKey without identity: %v, want ErrNoIdentity", err)
	}
	if _, err := seal.RecoverNamingKey(ctx, b2, load(t, seal.Config{IdentityFiles: []string{idFile}}), "", nil); !errors.Is(err, seal.ErrNamingKey) {
		t.Fatalf("RecoverNamingKey from a store without one: %v, want ErrNamingKey", err)
	}
	// … and writes it to a key file of its own.
	kf2 := filepath.Join(t.TempDir(), "recovered.key")
	if err := seal.WriteKeyFile(ctx, kf2, rec); err != nil {
		t.Fatal(err)
	}
	if again, err := seal.ReadKeyFile(ctx, kf2, "store-1"); err != nil || again.Name([]byte("x")) != n.Name([]byte("x")) {
		t.Fatalf("the recovered key file: %v, %v", again, err)
	}

	// A key file others may read is refused.
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.ReadKeyFile(ctx, keyFile, ""); !errors.Is(err, seal.ErrNamingKey) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a 0644 key file: %v, want ErrNamingKey saying chmod 600", err)
	}

	// Without recipients, no naming key is made.
	b3, _ := target(t)
	if _, err := seal.InitNamingKey(ctx, b3, filepath.Join(t.TempDir(), "k"), "s", load(t, seal.Config{})); !errors.Is(err, seal.ErrPlaintextRefused) {
		t.Fatalf("InitNamingKey without recipients: %v", err)
	}
}

func TestNamingKeyNames(t *testing.T) {
	a, err := seal.NewNamingKey("s")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := seal.NewNamingKey("s")
	chunk := []byte("SQLite format 3\x00 a chunk")
	plainID := sha256.Sum256(chunk)
	name := a.Name(chunk)
	if name == plainID {
		t.Fatal("the keyed name is the plain sha256")
	}
	if a.Name(chunk) != name {
		t.Fatal("the keyed name is not deterministic (dedup would break)")
	}
	if b.Name(chunk) == name || a.Fingerprint() == b.Fingerprint() {
		t.Fatal("two naming keys name alike")
	}
	h := a.NewHash()
	io.Copy(h, bytes.NewReader(chunk))
	if hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(name[:]) {
		t.Fatal("the streaming hash differs from Name")
	}
	if _, err := seal.NewNamingKey(""); !errors.Is(err, seal.ErrNamingKey) {
		t.Fatalf("a naming key without store: %v", err)
	}
}

func TestReadKeyFileMalformed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not json":      "hello",
		"wrong kind":    `{"kind":"x","version":1,"store_id":"s","key":"00"}`,
		"newer":         `{"kind":"dockpack-naming-key","version":2,"store_id":"s","key":"00"}`,
		"short key":     `{"kind":"dockpack-naming-key","version":1,"store_id":"s","key":"00"}`,
		"no store":      `{"kind":"dockpack-naming-key","version":1,"store_id":"","key":"` + strings.Repeat("00", 32) + `"}`,
		"unknown field": `{"kind":"dockpack-naming-key","version":1,"store_id":"s","key":"` + strings.Repeat("00", 32) + `","x":1}`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := seal.ReadKeyFile(ctx, p, ""); !errors.Is(err, seal.ErrNamingKey) {
			t.Errorf("%s: %v, want ErrNamingKey", name, err)
		}
	}
}

func TestNamingKeyPolynomial(t *testing.T) {
	a, _ := seal.NewNamingKey("s")
	b, _ := seal.NewNamingKey("s")
	pa, err := a.Polynomial()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.Polynomial()
	pb, _ := b.Polynomial()
	if pa != again || pa == pb || !pa.Irreducible() || pa.Deg() != 53 {
		t.Fatalf("polynomials %v (again %v), other key %v: want deterministic per key, irreducible, degree 53", pa, again, pb)
	}
}
