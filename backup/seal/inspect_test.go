package seal_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/seal"
)

func TestInspectWithoutIdentity(t *testing.T) {
	ctx := context.Background()
	_, r1 := identity(t)
	_, r2 := identity(t)
	k := load(t, seal.Config{Recipients: []string{r1, r2}})
	for _, size := range []int{0, 1, 64 << 10, 300 << 10} {
		var at bytes.Buffer
		d, err := k.Seal(ctx, &at, bytes.NewReader(sqliteLike(size)))
		if err != nil {
			t.Fatal(err)
		}
		s, err := seal.Inspect(ctx, bytes.NewReader(at.Bytes()))
		if err != nil {
			t.Fatalf("size %d: Inspect: %v", size, err)
		}
		if s.SHA256 != d.SHA256 || s.Size != d.Size {
			t.Fatalf("size %d: Inspect's digest %+v, the writer's %+v", size, s.Digest, d)
		}
		if !slices.Equal(s.Stanzas, []string{"X25519", "X25519"}) {
			t.Fatalf("size %d: stanzas %v, want two X25519", size, s.Stanzas)
		}
	}
	pk := load(t, seal.Config{Passphrase: "p", ScryptWorkFactor: seal.MinScryptWorkFactor})
	var at bytes.Buffer
	pk.Seal(ctx, &at, strings.NewReader("x"))
	if s, err := seal.Inspect(ctx, bytes.NewReader(at.Bytes())); err != nil || !slices.Equal(s.Stanzas, []string{"scrypt"}) {
		t.Fatalf("a passphrase-sealed file: %+v, %v", s, err)
	}

	if _, err := seal.Inspect(ctx, strings.NewReader("SQLite format 3\x00")); !errors.Is(err, seal.ErrNotEncrypted) {
		t.Fatalf("plaintext: %v, want ErrNotEncrypted", err)
	}
	var sealed bytes.Buffer
	k.Seal(ctx, &sealed, strings.NewReader("secret"))
	hdrOnly := sealed.Bytes()[:bytes.Index(sealed.Bytes(), []byte("\n--- "))+50]
	if _, err := seal.Inspect(ctx, bytes.NewReader(hdrOnly)); !errors.Is(err, seal.ErrDamaged) {
		t.Fatalf("a header without payload: %v, want ErrDamaged", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := seal.Inspect(canceled, bytes.NewReader(sealed.Bytes())); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}
