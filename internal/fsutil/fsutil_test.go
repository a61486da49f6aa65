package fsutil_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockpack/dockpack/internal/fsutil"
)

func TestWriteAtomicReplacesAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := fsutil.WriteFileAtomic(context.Background(), p, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := fsutil.WriteAtomic(context.Background(), p, 0o640, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "one" {
		t.Fatalf("content = %q, want the old one", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left %d entries, want 1 (no temp file)", len(ents))
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
}

func TestWriteAtomicCanceled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := fsutil.WriteFileAtomic(ctx, filepath.Join(dir, "f"), []byte("x"), 0o600)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %d entries", len(ents))
	}
}

func TestHashWriter(t *testing.T) {
	hw := fsutil.NewHashWriter(io.Discard)
	io.WriteString(hw, "abc")
	if hw.N() != 3 || hw.Sum() != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("n=%d sum=%s", hw.N(), hw.Sum())
	}
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o600)
	sum, n, err := fsutil.HashFile(context.Background(), p)
	if err != nil || n != 3 || sum != hw.Sum() {
		t.Fatalf("HashFile = %s %d %v", sum, n, err)
	}
}
