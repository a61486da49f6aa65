package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
)

func open(t *testing.T, dir, owner string) *local.Backend {
	t.Helper()
	b, err := local.Open(context.Background(), local.Options{Dir: dir, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestLocalObjects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir, "tok1")
	u, err := b.Create(ctx, "blobs/data/ab/abc", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(u, "hello world")
	if _, err := b.Stat(ctx, "blobs/data/ab/abc"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("visible before commit: %v", err)
	}
	var seen []string
	b.List(ctx, "", func(i storage.Info) error { seen = append(seen, i.Key); return nil })
	if len(seen) != 0 {
		t.Fatalf("an upload in progress is listed: %v", seen)
	}
	info, err := u.Commit(ctx)
	if err != nil || info.Size != 11 {
		t.Fatalf("commit: %v %+v", err, info)
	}
	fi, err := os.Stat(filepath.Join(dir, "blobs/data/ab"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode: %v %v", fi.Mode(), err)
	}
	rc, err := b.Open(ctx, "blobs/data/ab/abc", 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "wor" {
		t.Fatalf("range read %q", got)
	}
	if _, err := storage.WriteObject(ctx, b, "blobs/index/x.json", strings.NewReader("{}"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.WriteObject(ctx, b, "blobs.txt", strings.NewReader("x"), storage.CreateOptions{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	seen = nil
	b.List(ctx, "blobs/", func(i storage.Info) error { seen = append(seen, i.Key); return nil })
	if strings.Join(seen, ",") != "blobs/data/ab/abc,blobs/index/x.json" {
		t.Fatalf("list blobs/: %v", seen)
	}
	seen = nil
	b.List(ctx, "blobs", func(i storage.Info) error { seen = append(seen, i.Key); return nil })
	if len(seen) != 3 {
		t.Fatalf("list blobs: %v", seen)
	}
	// Exclusive.
	if _, err := storage.WriteObject(ctx, b, "lock", strings.NewReader("a"), storage.CreateOptions{Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.WriteObject(ctx, b, "lock", strings.NewReader("b"), storage.CreateOptions{Exclusive: true}); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second exclusive create: %v", err)
	}
	if data, _ := storage.ReadObject(ctx, b, "lock", 10); string(data) != "a" {
		t.Fatalf("lock overwritten: %q", data)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Fatalf("temporary files left: %v", ents)
	}
	// Remove, missing ok.
	if err := b.Remove(ctx, "lock"); err != nil || b.Remove(ctx, "lock") != nil {
		t.Fatal(err)
	}
	// Invalid keys.
	if _, err := b.Create(ctx, "../x", storage.CreateOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
		t.Fatalf("invalid key: %v", err)
	}
}

func TestLocalAbortStaleAndRename(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dead := open(t, dir, "deadbeef")
	u, err := dead.Create(ctx, "blobs/data/aa/x", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Write(bytes.Repeat([]byte{1}, 100))
	alive := open(t, dir, "alive")
	u2, _ := alive.Create(ctx, "blobs/data/aa/y", storage.CreateOptions{})
	n, err := alive.AbortStale(ctx, func(o string) bool { return o == "deadbeef" })
	if err != nil || n != 1 {
		t.Fatalf("AbortStale: %d %v", n, err)
	}
	if _, err := u2.Commit(ctx); err != nil {
		t.Fatalf("a live owner's upload was touched: %v", err)
	}
	if _, err := u.Commit(ctx); err == nil {
		t.Fatal("a removed upload committed")
	}
	storage.WriteObject(ctx, alive, "p/a", strings.NewReader("1"), storage.CreateOptions{})
	storage.WriteObject(ctx, alive, "q/a", strings.NewReader("1"), storage.CreateOptions{})
	if err := alive.RenamePrefix(ctx, "p", "q"); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("rename over an existing prefix: %v", err)
	}
	if err := alive.RenamePrefix(ctx, "p", "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := alive.Stat(ctx, "r/a"); err != nil {
		t.Fatal(err)
	}
}

// TestLocalOpenChecksPin: reads go through the pinned handle, and the pin
// is checked before an object is opened once CheckBytes have been opened
// since the last check (and for every whole-object open): with the pinned
// directory moved away, range reads within the budget still read the
// pinned directory's object, the next one past it fails as unavailable.
func TestLocalOpenChecksPin(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "target")
	os.Mkdir(dir, 0o700)
	b, err := local.Open(ctx, local.Options{Dir: dir, Owner: "tok1", CheckBytes: 1500})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	u, err := b.Create(ctx, "obj", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Write(bytes.Repeat([]byte("x"), 1000))
	if _, err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+"-moved"); err != nil {
		t.Fatal(err)
	}
	read := func(length int64) error {
		rc, err := b.Open(ctx, "obj", 0, length)
		if err != nil {
			return err
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err == nil && int64(len(got)) != length {
			t.Fatalf("read %d bytes of %d", len(got), length)
		}
		return err
	}
	if err := read(1000); err != nil {
		t.Fatalf("a read within the budget: %v", err)
	}
	if err := read(1000); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("the read past the budget was not checked: %v", err)
	}
	if _, err := b.Open(ctx, "obj", 0, -1); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("a whole-object open was not checked: %v", err)
	}
}
