package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/dockpack/dockpack/backup/store"
)

// TestWriterParallel: the chunks come back in file order whatever worker
// stored them; a chunk repeated inside one file (even while its first copy
// is still being compressed) is stored once; bundles committed in the
// background are all indexed by Flush and read back whole.
func TestWriterParallel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir) // 4 MiB bundles: several commits in the background
	a, b := randBytes(11, 6<<20), randBytes(12, 5<<20)
	data := bytes.Join([][]byte{a, b, a, b, a}, nil)
	w := s.NewWriter()
	res, err := w.WriteFile(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res.Size != int64(len(data)) || res.Stats.ReadBytes != res.Size || res.Stats.NewRawBytes+res.Stats.ReusedRawBytes != res.Size {
		t.Fatalf("sizes: %d, stats %+v", res.Size, res.Stats)
	}
	if res.Stats.NewRawBytes > int64(len(a)+len(b))+16<<20 || res.Stats.ReusedRawBytes < int64(len(a)) {
		t.Fatalf("the repeated parts were not reused: %+v", res.Stats)
	}
	if got := w.Stats(); got != res.Stats {
		t.Fatalf("writer stats %+v, file stats %+v", got, res.Stats)
	}
	got, err := readAll(t, s, res.Chunks)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, data))
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "blobs/data/*/*"))
	if len(bundles) != w.Bundles() || w.Bundles() < 2 {
		t.Fatalf("%d bundle files, the writer committed %d", len(bundles), w.Bundles())
	}
	cr, err := s.Check(ctx, store.CheckOptions{ReadData: true})
	if err != nil || len(cr.Damaged) > 0 || cr.Unindexed > 0 || cr.Blobs != res.Stats.NewBlobs {
		t.Fatalf("check: %+v %v (new blobs %d)", cr, err, res.Stats.NewBlobs)
	}
}

// failingReader fails after n bytes.
type failingReader struct {
	r io.Reader
	n int
}

var errSource = errors.New("the source broke")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errSource
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestWriterFailure: a source that fails mid-file fails the write with its
// error, and the writer stays usable (no buffer lost); a canceled context
// ends the write too.
func TestWriterFailure(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	w := s.NewWriter()
	data := randBytes(13, 12<<20)
	if _, err := w.WriteFile(ctx, &failingReader{r: bytes.NewReader(data), n: 7 << 20}); !errors.Is(err, errSource) {
		t.Fatalf("a failing source: %v", err)
	}
	for i := 0; i < 3; i++ { // the pool of buffers is whole again
		res, err := w.WriteFile(ctx, bytes.NewReader(data))
		if err != nil || res.Size != int64(len(data)) {
			t.Fatalf("write %d after a failure: %d bytes, %v", i, res.Size, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.WriteFile(cctx, bytes.NewReader(randBytes(14, 4<<20))); !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled write: %v", err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.Abort(ctx)
}
