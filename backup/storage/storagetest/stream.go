package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage"
)

// writeStream writes r under key in writes of odd sizes, as a tar stream
// arrives, and commits.
func writeStream(ctx context.Context, b storage.Backend, key string, r io.Reader, o storage.CreateOptions) (storage.Info, error) {
	u, err := b.Create(ctx, key, o)
	if err != nil {
		return storage.Info{}, err
	}
	if _, err := io.CopyBuffer(struct{ io.Writer }{u}, r, make([]byte, 7777)); err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return storage.Info{}, err
	}
	info, err := u.Commit(ctx)
	if err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
	}
	return info, err
}

func (s *suite) stream(t *testing.T) {
	b := s.newBackend(t)
	size := 3*s.o.PartSize + 12345
	src := NewStream(5, size)
	info, err := writeStream(ctxFor(t), b, "images.tar", src, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size {
		t.Errorf("Commit says %d bytes, wrote %d", info.Size, size)
	}
	if sum, n := sumOf(t, b, "images.tar"); sum != src.Sum() || n != size {
		t.Errorf("read back %d bytes with sha256 %s, wrote %d with %s", n, sum, size, src.Sum())
	}
	s.noPending(t, b)
}

func (s *suite) concurrentWriters(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	const n = 6
	var wg sync.WaitGroup
	sums := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := NewStream(uint64(100+i), 2*s.o.PartSize+int64(i)*1000)
			_, errs[i] = writeStream(ctx, b, fmt.Sprintf("w/%d", i), src, storage.CreateOptions{})
			sums[i] = src.Sum()
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("writer %d: %v", i, errs[i])
			continue
		}
		if sum, _ := sumOf(t, b, fmt.Sprintf("w/%d", i)); sum != sums[i] {
			t.Errorf("writer %d: read back another content", i)
		}
	}
	if got := keys(t, b, "w/"); len(got) != n {
		t.Errorf("List(w/) = %v", got)
	}
	s.noPending(t, b)
}

func (s *suite) abort(t *testing.T) {
	b := s.newBackend(t)
	ctx := ctxFor(t)
	for _, size := range []int64{10, 2*s.o.PartSize + 10} {
		u, err := b.Create(ctx, "aborted", storage.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write(randomData(6, size)); err != nil {
			t.Fatal(err)
		}
		if err := u.Abort(ctx); err != nil {
			t.Fatalf("Abort after %d bytes: %v", size, err)
		}
		if err := u.Abort(ctx); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		if _, err := u.Write([]byte("more")); err == nil {
			t.Error("Write after Abort succeeded")
		}
		if _, err := u.Commit(ctx); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		absent(t, b, "aborted")
		s.noPending(t, b)
	}
	u, err := b.Create(ctx, "kept", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = u.Write([]byte("kept"))
	if _, err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := u.Abort(ctx); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if got := string(get(t, b, "kept")); got != "kept" {
		t.Errorf("Abort after Commit changed the object: %q", got)
	}
}

func (s *suite) cancelMidUpload(t *testing.T) {
	b := s.newBackend(t)
	ctx, cancel := context.WithCancel(ctxFor(t))
	u, err := b.Create(ctx, "canceled.tar", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(randomData(7, 2*s.o.PartSize+100)); err != nil {
		t.Fatal(err)
	}
	cancel()
	chunk := randomData(8, 1<<20)
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = u.Write(chunk)
	}
	if werr == nil {
		_, werr = u.Commit(ctx)
	}
	if werr == nil {
		t.Fatal("writing and committing after cancel succeeded")
	}
	if !errors.Is(werr, context.Canceled) {
		t.Errorf("the error after cancel is %v; want one matching context.Canceled", werr)
	}
	if err := u.Abort(context.Background()); err != nil {
		t.Errorf("Abort after cancel: %v", err)
	}
	absent(t, b, "canceled.tar")
	s.noPending(t, b)
}

// large streams Options.Large bytes through one upload, then reads them
// back, and reports the time and the memory it took.
func (s *suite) large(t *testing.T) {
	if s.o.Large == 0 {
		t.Skip("set DOCKPACK_STORAGE_LARGE (e.g. 1GiB) or Options.Large to stream a large object")
	}
	b := s.newBackend(t)
	ctx := ctxFor(t)
	stop := sampleHeap()
	src := NewStream(9, s.o.Large)
	start := time.Now()
	info, err := writeStream(ctx, b, "large.tar", src, storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	heap := stop()
	defer func() { _ = b.Remove(context.Background(), "large.tar") }()
	start = time.Now()
	sum, n := sumOf(t, b, "large.tar")
	down := time.Since(start)
	if sum != src.Sum() || n != s.o.Large || info.Size != s.o.Large {
		t.Fatalf("read back %d bytes (commit said %d) with sha256 %s; wrote %d with %s", n, info.Size, sum, s.o.Large, src.Sum())
	}
	mib := float64(s.o.Large) / (1 << 20)
	t.Logf("large stream: %.0f MiB written in %s (%.0f MiB/s), read back in %s (%.0f MiB/s); Go heap in use peak %d MiB during the write; process peak RSS (VmHWM) %s",
		mib, up.Round(time.Millisecond), mib/up.Seconds(), down.Round(time.Millisecond), mib/down.Seconds(), heap>>20, vmHWM())
	s.noPending(t, b)
}

// sampleHeap samples the Go heap in use every 20 ms until the returned
// function is called, which returns the peak.
func sampleHeap() func() uint64 {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// vmHWM is the process's peak resident set, from /proc/self/status.
func vmHWM() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
