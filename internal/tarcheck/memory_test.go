package tarcheck_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

// writeBigArchive writes a legacy image archive of nLayers layers of
// layerSize bytes each to w, generating the content on the fly.
func writeBigArchive(w io.Writer, nLayers int, layerSize int64) error {
	tw := tar.NewWriter(w)
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	var layers []string
	for i := range nLayers {
		id := fmt.Sprintf("%064x", i+1)
		if err := tw.WriteHeader(&tar.Header{Name: id + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return err
		}
		name := id + "/layer.tar"
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: layerSize}); err != nil {
			return err
		}
		for left := layerSize; left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := tw.Write(chunk[:n]); err != nil {
				return err
			}
			left -= n
		}
		layers = append(layers, name)
	}
	cfg := fmt.Sprintf("%064x", 0xc0ffee)
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfg + ".json", "RepoTags": []string{"big:1"}, "Layers": layers}})
	for _, f := range []struct{ name, body string }{
		{cfg + ".json", `{"architecture":"amd64","os":"linux"}`},
		{"manifest.json", string(manifest)},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

// A 1 GiB image archive, generated while it is read, is validated with a heap
// that does not grow with the stream: peak heap and total allocations stay
// far below the stream size.
func TestValidateImageArchiveBoundedMemory(t *testing.T) {
	const (
		nLayers   = 8
		layerSize = 128 << 20 // 8 × 128 MiB = 1 GiB
		heapLimit = 16 << 20
	)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBigArchive(pw, nLayers, layerSize)) }()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var (
		mu   sync.Mutex
		peak uint64
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				mu.Lock()
				peak = max(peak, ms.HeapAlloc)
				mu.Unlock()
			}
		}
	}()
	start := time.Now()
	a, err := tarcheck.ValidateImageArchive(context.Background(), pr)
	elapsed := time.Since(start)
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("ValidateImageArchive: %v", err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	if want := int64(nLayers) * layerSize; a.Bytes < want {
		t.Fatalf("Bytes = %d, want > %d", a.Bytes, want)
	}
	if len(a.Images) != 1 || len(a.Images[0].Layers) != nLayers {
		t.Fatalf("Images = %+v", a.Images)
	}
	mu.Lock()
	peakGrowth := int64(peak) - int64(before.HeapAlloc)
	mu.Unlock()
	totalAlloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("streamed %d bytes in %v (%.0f MB/s); heap before %d KiB, peak %d KiB (growth %d KiB); total allocated during the run %d KiB; mallocs %d",
		a.Bytes, elapsed.Round(time.Millisecond), float64(a.Bytes)/1e6/elapsed.Seconds(),
		before.HeapAlloc>>10, peak>>10, peakGrowth>>10, totalAlloc>>10, after.Mallocs-before.Mallocs)
	if peakGrowth > heapLimit {
		t.Errorf("peak heap grew by %d KiB while streaming 1 GiB, want < %d KiB", peakGrowth>>10, heapLimit>>10)
	}
	if totalAlloc > heapLimit {
		t.Errorf("%d KiB allocated in total while streaming 1 GiB, want < %d KiB (allocation must not grow with the stream)", totalAlloc>>10, heapLimit>>10)
	}
}
