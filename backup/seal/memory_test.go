package seal_test

import (
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/seal"
)

// cycler reads n bytes cycling over buf (cheap, incompressible enough).
type cycler struct {
	buf []byte
	off int
	n   int64
}

func newCycler(n int64) *cycler { return &cycler{buf: sqliteLike(1 << 20), n: n} }

func (c *cycler) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	k := copy(p, c.buf[c.off:])
	c.off = (c.off + k) % len(c.buf)
	c.n -= int64(k)
	return k, nil
}

// heapPeak samples the heap every millisecond until stop is called and
// returns the peak growth over the heap at the start.
func heapPeak() (stop func() int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return int64(peak) - int64(base)
	}
}

// TestStreamingMemoryBounded: sealing then opening 128 MiB through a pipe
// keeps the heap's growth under 8 MiB (the source's 1 MiB buffer, age's
// 64 KiB chunks, io.Copy's buffers, and the 64 KiB that age's reader
// allocates per chunk and drops — garbage, collected as it goes), whatever
// the size: nothing is held for the whole stream.
func TestStreamingMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 128 MiB")
	}
	ctx := context.Background()
	// Collect often, so the heap measures what is live, not garbage
	// waiting for the next cycle.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	idf, r := identity(t)
	k := load(t, seal.Config{Recipients: []string{r}, IdentityFiles: []string{idf}})
	const size = 128 << 20
	stop := heapPeak()
	pr, pw := io.Pipe()
	var sealed seal.Digest
	var werr error
	go func() {
		sealed, werr = k.Seal(ctx, pw, newCycler(size))
		pw.CloseWithError(werr)
	}()
	opened, err := k.Open(ctx, io.Discard, pr, nil)
	growth := stop()
	if err != nil || werr != nil {
		t.Fatalf("seal: %v; open: %v", werr, err)
	}
	if opened != sealed || opened.PlainSize != size {
		t.Fatalf("digests differ: sealed %+v, opened %+v", sealed, opened)
	}
	t.Logf("sealed and opened %d MiB: ciphertext %d bytes (+%.3f%%), peak heap growth %d KiB", size>>20, sealed.Size, 100*float64(sealed.Size-size)/size, growth>>10)
	if growth > 8<<20 {
		t.Fatalf("peak heap grew by %d KiB, want < 8 MiB", growth>>10)
	}
}
