package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	b, err := local.Open(context.Background(), local.Options{Dir: dir, Owner: owner.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := store.Open(context.Background(), b, store.Options{Create: true, BundleSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func write(t *testing.T, s *store.Store, data []byte) store.FileResult {
	t.Helper()
	ctx := context.Background()
	w := s.NewWriter()
	res, err := w.WriteFile(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return res
}

func readAll(t *testing.T, s *store.Store, chunks []store.Chunk) ([]byte, error) {
	t.Helper()
	return io.ReadAll(s.OpenFile(context.Background(), chunks))
}

func TestStoreDedupeReadGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	data := randBytes(1, 24<<20)
	first := write(t, s, data)
	sum := sha256.Sum256(data)
	if first.Size != int64(len(data)) || first.SHA256 != hex.EncodeToString(sum[:]) || first.Stats.NewRawBytes != first.Size {
		t.Fatalf("first write: size %d sha %s stats %+v", first.Size, first.SHA256, first.Stats)
	}
	if n := len(first.Chunks); n < 8 || n > 60 {
		t.Fatalf("%d chunks for 24 MiB: the average is not ~1 MiB", n)
	}
	// Unchanged: nothing new. A region changed: a few chunks new.
	s2 := openStore(t, dir)
	again := write(t, s2, data)
	if again.Stats.NewRawBytes != 0 || again.Stats.ReusedRawBytes != first.Size {
		t.Fatalf("second write of the same bytes added %+v", again.Stats)
	}
	changed := bytes.Clone(data)
	copy(changed[10<<20:], randBytes(2, 256<<10))
	third := write(t, s2, changed)
	// New: exactly the chunks of the changed file the first did not have,
	// a few around the change (content-defined chunks resynchronise after
	// it; their sizes follow the store's random polynomial, 512 KiB–8 MiB).
	had := map[store.ID]bool{}
	for _, c := range first.Chunks {
		had[c.ID] = true
	}
	var unseen int64
	for _, c := range third.Chunks {
		if !had[c.ID] {
			unseen += c.Size
			had[c.ID] = true
		}
	}
	if third.Stats.NewRawBytes != unseen || unseen == 0 || unseen > int64(len(data))/2 {
		t.Fatalf("a 256 KiB change added %d bytes; the chunks the first write lacked: %d of %d", third.Stats.NewRawBytes, unseen, len(data))
	}
	got, err := readAll(t, s2, third.Chunks)
	if err != nil || !bytes.Equal(got, changed) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, changed))
	}
	// GC keeping only the third file's blobs: the first's unique chunks go.
	used := map[store.ID]bool{}
	for _, c := range third.Chunks {
		used[c.ID] = true
	}
	res, err := s2.GC(ctx, func(id store.ID) bool { return used[id] })
	// The first file's unique chunks go: repacked out of a bundle they
	// shared, or with their bundle when they filled it alone (a chunk of
	// more than the 4 MiB bundle size, under some random polynomials).
	if err != nil || len(res.Missing) > 0 || res.BlobsDeleted == 0 || res.BundlesRepacked+res.BundlesDeleted == 0 {
		t.Fatalf("gc: %+v %v", res, err)
	}
	if s2.Index().Len() != len(used) {
		t.Fatalf("after gc the index lists %d blobs, %d are used", s2.Index().Len(), len(used))
	}
	if got, err := readAll(t, s2, third.Chunks); err != nil || !bytes.Equal(got, changed) {
		t.Fatalf("read after gc: %v", err)
	}
	if _, err := readAll(t, s2, first.Chunks); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("a collected file still reads: %v", err)
	}
	cr, err := s2.Check(ctx, store.CheckOptions{ReadData: true})
	if err != nil || len(cr.Damaged) > 0 || cr.Unindexed > 0 {
		t.Fatalf("check after gc: %+v %v", cr, err)
	}
}

// TestStoreGCRepacks: two files of one chunk each (under the chunker's
// minimum size) share a bundle; GC keeping one repacks the bundle, and the
// kept file still reads.
func TestStoreGCRepacks(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	w := s.NewWriter()
	var files []store.FileResult
	for seed := uint64(11); seed <= 12; seed++ {
		res, err := w.WriteFile(ctx, bytes.NewReader(randBytes(seed, 100<<10)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, res)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Bundles() != 1 || len(files[0].Chunks) != 1 || len(files[1].Chunks) != 1 {
		t.Fatalf("%d bundles for two files of %d and %d chunks; want one bundle", w.Bundles(), len(files[0].Chunks), len(files[1].Chunks))
	}
	keep := files[0].Chunks[0].ID
	res, err := s.GC(ctx, func(id store.ID) bool { return id == keep })
	if err != nil || res.BundlesRepacked != 1 || res.BundlesDeleted != 1 || res.BlobsDeleted != 1 || res.BundlesWritten != 1 {
		t.Fatalf("gc: %+v %v; want the shared bundle repacked: one written, one deleted, one blob gone", res, err)
	}
	if got, err := readAll(t, s, files[0].Chunks); err != nil || !bytes.Equal(got, randBytes(11, 100<<10)) {
		t.Fatalf("the kept file after the repack: %v", err)
	}
	if _, err := readAll(t, s, files[1].Chunks); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("the collected file still reads: %v", err)
	}
}

func TestStoreFlippedByte(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	res := write(t, s, randBytes(3, 6<<20))
	bundles, _ := filepath.Glob(filepath.Join(dir, "blobs/data/*/*"))
	if len(bundles) == 0 {
		t.Fatal("no bundle")
	}
	f, _ := os.OpenFile(bundles[0], os.O_RDWR, 0)
	b := make([]byte, 1)
	f.ReadAt(b, 1000)
	b[0] ^= 0xff
	f.WriteAt(b, 1000)
	f.Close()
	cr, err := s.Check(ctx, store.CheckOptions{ReadData: true})
	if err != nil || len(cr.Damaged) == 0 || cr.Damaged[0].Bundle != filepath.Base(bundles[0]) {
		t.Fatalf("check did not find the flipped byte: %+v %v", cr, err)
	}
	if _, err := readAll(t, s, res.Chunks); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("a damaged file reads: %v", err)
	}
}

// TestStoreTrustedRead: OpenFileTrusted reads what OpenFile reads (also
// through WriteTo, which io.Copy uses); it does not hash chunks against
// their ids — a byte flipped in a chunk's content passes it (its consumer
// checks the whole content: an engine hashing a layer against its DiffID)
// where OpenFile refuses it —, and a chunk whose frame does not decompress
// still fails it.
func TestStoreTrustedRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	data := randBytes(4, 6<<20)
	res := write(t, s, data)
	for name, open := range map[string]func() io.ReadCloser{
		"checked": func() io.ReadCloser { return s.OpenFile(ctx, res.Chunks) },
		"trusted": func() io.ReadCloser { return s.OpenFileTrusted(ctx, res.Chunks) },
	} {
		var got bytes.Buffer
		rc := open()
		n, err := io.Copy(&got, rc)
		rc.Close()
		if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("%s read with WriteTo: %d bytes, %v", name, n, err)
		}
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "blobs/data/*/*"))
	flip := func(off int64) {
		f, _ := os.OpenFile(bundles[0], os.O_RDWR, 0)
		b := make([]byte, 1)
		f.ReadAt(b, off)
		b[0] ^= 0xff
		f.WriteAt(b, off)
		f.Close()
	}
	flip(1000)
	if _, err := readAll(t, s, res.Chunks); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("checked read of a flipped byte: %v", err)
	}
	got, err := io.ReadAll(s.OpenFileTrusted(ctx, res.Chunks))
	diff := 0
	for i := range min(len(got), len(data)) {
		if got[i] != data[i] {
			diff++
		}
	}
	if err != nil || len(got) != len(data) || diff != 1 {
		t.Fatalf("trusted read of a flipped byte: %d bytes, %d differ, %v", len(got), diff, err)
	}
	flip(0) // the frame's magic number
	if _, err := io.Copy(io.Discard, s.OpenFileTrusted(ctx, res.Chunks)); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("trusted read of a frame that does not decompress: %v", err)
	}
}

func TestStoreLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	b := s.Backend()
	a := owner.Self("")
	sh, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Shared, Owner: a, Purpose: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Shared, Owner: owner.Self(""), Purpose: "backup"})
	if err != nil {
		t.Fatalf("two shared leases: %v", err)
	}
	_, err = store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: owner.Self(""), Purpose: "prune"})
	var le *store.LockedError
	if !errors.As(err, &le) || le.Holder.Purpose != "backup" {
		t.Fatalf("exclusive while shared held: %v", err)
	}
	sh.Release(ctx)
	sh2.Release(ctx)
	ex, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: owner.Self(""), Purpose: "prune"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Shared, Owner: owner.Self(""), Purpose: "backup", Wait: time.Second}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("shared while exclusive held: %v", err)
	}
	ex.Release(ctx)
	// A dead owner's lease is taken over.
	dead := owner.Identity{Token: owner.NewToken(), Host: "h", PID: 1}
	if _, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: dead, Purpose: "prune"}); err != nil {
		t.Fatal(err)
	}
	got, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Shared, Owner: owner.Self(""), Purpose: "backup",
		Dead: func(id owner.Identity) bool { return id.Token == dead.Token }})
	if err != nil {
		t.Fatalf("a dead owner's lease was not taken over: %v", err)
	}
	if err := got.Held(ctx); err != nil {
		t.Fatal(err)
	}
	got.Release(ctx)
}

// TestStoreCheckSubset: --read-data-subset reads that fraction of the
// bundles (at least one), whole; all of them at 100 %, where a flipped
// byte in any bundle is found; the structural check alone reads none.
func TestStoreCheckSubset(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := local.Open(ctx, local.Options{Dir: dir, Owner: owner.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := store.Open(ctx, b, store.Options{Create: true, BundleSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	write(t, s, randBytes(7, 24<<20))
	all, err := s.Check(ctx, store.CheckOptions{})
	if err != nil || all.Bundles < 3 || all.BundlesRead != 0 { // 24 MiB in chunks of 512 KiB–8 MiB (the polynomial is random), bundles of 1 MiB
		t.Fatalf("structural check: %+v %v", all, err)
	}
	for _, c := range []struct {
		subset float64
		want   int
	}{{0.25, (all.Bundles + 3) / 4}, {0.5, (all.Bundles + 1) / 2}, {0.001, 1}, {1, all.Bundles}} {
		cr, err := s.Check(ctx, store.CheckOptions{ReadData: true, Subset: c.subset})
		if err != nil || len(cr.Damaged) > 0 || cr.BundlesRead != c.want {
			t.Fatalf("subset %g of %d bundles: read %d (want %d), damaged %d: %v", c.subset, all.Bundles, cr.BundlesRead, c.want, len(cr.Damaged), err)
		}
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "blobs/data/*/*"))
	victim := bundles[len(bundles)/2]
	f, err := os.OpenFile(victim, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	f.ReadAt(one, 4096)
	one[0] ^= 0x01
	f.WriteAt(one, 4096)
	f.Close()
	cr, err := s.Check(ctx, store.CheckOptions{ReadData: true, Subset: 1})
	if err != nil || len(cr.Damaged) == 0 || cr.Damaged[0].Bundle != filepath.Base(victim) {
		t.Fatalf("a flipped byte at 100%%: %+v %v", cr, err)
	}
	hits := 0
	for range 20 {
		cr, err := s.Check(ctx, store.CheckOptions{ReadData: true, Subset: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		if len(cr.Damaged) > 0 {
			hits++
		}
	}
	if hits == 0 || hits == 20 {
		t.Errorf("a 50%% sample found the damaged bundle in %d of 20 runs: not a random half", hits)
	}
}
