package storagetest

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/dockpack/dockpack/backup/storage"
)

func (s *suite) putGet(t *testing.T) {
	b := s.newBackend(t)
	data := []byte("hello, pack\n")
	meta := map[string]string{"dockpack-test": "yes"}
	put(t, b, "pack_a/manifest.json", data, storage.CreateOptions{Meta: meta, SizeHint: int64(len(data))})
	if got := get(t, b, "pack_a/manifest.json"); !bytes.Equal(got, data) {
		t.Fatalf("read back %q, wrote %q", got, data)
	}
	info, err := b.Stat(ctxFor(t), "pack_a/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "pack_a/manifest.json" || info.Size != int64(len(data)) || info.ModTime.IsZero() {
		t.Errorf("Stat = %+v", info)
	}
	if s.o.KeepsMeta && info.Meta["dockpack-test"] != "yes" {
		t.Errorf("Stat's Meta = %v, want dockpack-test=yes", info.Meta)
	}
	if _, err := storage.ReadObject(ctxFor(t), b, "pack_a/manifest.json", 4); err == nil {
		t.Error("ReadObject with a smaller max read the object")
	}
	if loc := b.Location(); loc == "" {
		t.Error("empty Location")
	}
	if err := b.Check(ctxFor(t)); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func (s *suite) empty(t *testing.T) {
	b := s.newBackend(t)
	put(t, b, "empty", nil, storage.CreateOptions{})
	if got := get(t, b, "empty"); len(got) != 0 {
		t.Fatalf("empty object read back %d bytes", len(got))
	}
	if info, err := b.Stat(ctxFor(t), "empty"); err != nil || info.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v", info, err)
	}
}

func (s *suite) overwrite(t *testing.T) {
	b := s.newBackend(t)
	put(t, b, "k", []byte("first version"), storage.CreateOptions{})
	put(t, b, "k", []byte("second"), storage.CreateOptions{})
	if got := string(get(t, b, "k")); got != "second" {
		t.Fatalf("after overwrite read %q", got)
	}
}

func (s *suite) invisible(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	u, err := b.Create(ctx, "dir/obj", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(randomData(1, s.o.PartSize+1000)); err != nil {
		t.Fatal(err)
	}
	absent(t, b, "dir/obj")
	if ks := keys(t, b, ""); len(ks) > 0 {
		t.Errorf("List of everything shows %v before Commit", ks)
	}
	if _, err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ks := keys(t, b, ""); !slices.Equal(ks, []string{"dir/obj"}) {
		t.Errorf("List after Commit = %v", ks)
	}
	s.noPending(t, b)
}

func (s *suite) ranges(t *testing.T) {
	b := s.newBackend(t)
	data := randomData(2, 10000)
	put(t, b, "r", data, storage.CreateOptions{})
	for _, c := range []struct{ off, n int64 }{{0, -1}, {0, 10000}, {1, -1}, {5000, 100}, {9990, -1}, {9990, 100}, {0, 1}, {9999, 1}, {123, 0}, {10000, -1}} {
		rc, err := b.Open(ctxFor(t), "r", c.off, c.n)
		if err != nil {
			t.Errorf("Open(r, %d, %d): %v", c.off, c.n, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(data))
		if c.n >= 0 {
			end = min(end, c.off+c.n)
		}
		if want := data[c.off:end]; err != nil || !bytes.Equal(got, want) {
			t.Errorf("Open(r, %d, %d) read %d bytes (err %v), want %d", c.off, c.n, len(got), err, len(want))
		}
	}
	if _, err := b.Open(ctxFor(t), "nothing-here", 5, 10); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("range of a missing object: %v, want ErrNotExist", err)
	}
}

func (s *suite) list(t *testing.T) {
	b := s.newBackend(t)
	// No key is also a "directory" of another (a file system cannot hold
	// both); "a/b-x" sorts before "a/b/c" ('-' < '/') although a directory
	// walk meets b/ first.
	all := []string{"a/b/c", "a/b-x", "a/bc", "a/b2", "ab", "b/x", "z.json", "migration_pack_1/manifest.json", "migration_pack_2/images.tar"}
	for i, k := range all {
		put(t, b, k, bytes.Repeat([]byte{'x'}, i+1), storage.CreateOptions{})
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	if got := keys(t, b, ""); !slices.Equal(got, sorted) {
		t.Errorf("List(\"\") = %v, want %v (lexical order)", got, sorted)
	}
	for prefix, want := range map[string][]string{
		"a/":              {"a/b-x", "a/b/c", "a/b2", "a/bc"},
		"a/b":             {"a/b-x", "a/b/c", "a/b2", "a/bc"},
		"a/b/":            {"a/b/c"},
		"migration_pack_": {"migration_pack_1/manifest.json", "migration_pack_2/images.tar"},
		"nothing":         nil,
	} {
		if got := keys(t, b, prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %v, want %v", prefix, got, want)
		}
	}
	var sizes []int64
	stop := errors.New("stop")
	err := b.List(ctxFor(t), "", func(i storage.Info) error {
		sizes = append(sizes, i.Size)
		if len(sizes) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(sizes) != 2 {
		t.Errorf("List stopped by fn: err %v after %d calls; want fn's error after 2", err, len(sizes))
	}
	if want := int64(slices.Index(all, sorted[0]) + 1); sizes[0] != want {
		t.Errorf("List's first Info.Size = %d, want %d", sizes[0], want)
	}
}

func (s *suite) remove(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	put(t, b, "gone/soon", []byte("x"), storage.CreateOptions{})
	if err := b.Remove(ctx, "gone/soon"); err != nil {
		t.Fatal(err)
	}
	absent(t, b, "gone/soon")
	if err := b.Remove(ctx, "gone/soon"); err != nil {
		t.Errorf("removing a missing object: %v", err)
	}
	if err := b.Remove(ctx, "never/was"); err != nil {
		t.Errorf("removing a never-written object: %v", err)
	}
}

func (s *suite) invalidKeys(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	for _, k := range []string{"", "/abs", "../up", "a/../b", "a//b", "trailing/", `back\slash`} {
		if _, err := b.Create(ctx, k, storage.CreateOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Create(%q): %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Stat(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Open(ctx, k, 0, -1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Open(%q): %v, want ErrInvalidKey", k, err)
		}
		if err := b.Remove(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Remove(%q): %v, want ErrInvalidKey", k, err)
		}
	}
}

func (s *suite) exclusive(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	put(t, b, "lock", []byte("first"), storage.CreateOptions{Exclusive: true})
	for _, size := range []int64{6, s.o.PartSize + 10} { // one PUT; a multipart upload
		_, err := storage.WriteObject(ctx, b, "lock", bytes.NewReader(randomData(3, size)), storage.CreateOptions{Exclusive: true})
		if !errors.Is(err, storage.ErrExists) {
			t.Errorf("exclusive create of %d bytes over an existing key: %v, want ErrExists", size, err)
		}
	}
	if got := string(get(t, b, "lock")); got != "first" {
		t.Errorf("after refused exclusive creates the object holds %q", got)
	}
	s.noPending(t, b)
	put(t, b, "lock2", randomData(4, s.o.PartSize+10), storage.CreateOptions{Exclusive: true})
}

func (s *suite) exclusiveRace(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = storage.WriteObject(ctx, b, "contended", bytes.NewReader([]byte{byte('0' + i)}), storage.CreateOptions{Exclusive: true})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("writers %d and %d both created the key exclusively", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, storage.ErrExists):
			t.Errorf("writer %d: %v, want nil or ErrExists", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer won the exclusive create")
	}
	if got := get(t, b, "contended"); len(got) != 1 || got[0] != byte('0'+won) {
		t.Errorf("the key holds %q, the winner was writer %d", got, won)
	}
}
