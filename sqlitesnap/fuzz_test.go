package sqlitesnap_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockpack/dockpack/sqlitesnap"
)

// FuzzCheck feeds arbitrary bytes to Check as a database file: it must
// return nil, ErrCorrupt or ErrNotDatabase, and never panic or hang.
func FuzzCheck(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "seed.db")
	MustDB(f, good, "delete", 3)
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:100])
	f.Add(b[:4096])
	f.Add([]byte("SQLite format 3\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := sqlitesnap.Check(context.Background(), p, sqlitesnap.QuickCheck)
		if err != nil && !errors.Is(err, sqlitesnap.ErrCorrupt) && !errors.Is(err, sqlitesnap.ErrNotDatabase) {
			t.Fatalf("Check = %v, want nil, ErrCorrupt or ErrNotDatabase", err)
		}
	})
}
