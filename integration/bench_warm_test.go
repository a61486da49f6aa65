//go:build integration

package integration_test

import (
	"os"
	"syscall"
	"testing"
)

// benchQuiesce prepares the machine for one timed run of a benchmark, the
// same for dockpack and for its anchor: the dirty pages of the previous
// runs are written back first (sync), not during this one, and n bytes of
// page cache are written to a file in dir and freed again just before.
//
// Why the second: this machine is a VM whose balloon reports free pages to
// the host (virtio-balloon free page reporting); a page free for more than
// ~2 s goes back to the host and costs a host fault when the guest uses it
// again. Writing 1 GiB of page cache took 0.18–0.25 s right after another
// such write and 0.46, 0.49 and 0.98 s after 2, 3 and 5 s of rest (dd,
// 2026-12-06): a run's kernel time depended on how long it had been since
// the previous run. Pages freed by deleting a file are reused first, so the
// run's own page cache (its pack, the engine's staging) is warm; warming
// with anonymous memory did not work (0.54 s after it). It took dockpack's
// CPU for BenchmarkImagesClassic's backup from 2.4–4.0 s to 1.4–1.8 s; the
// seal benchmark's rounds still vary (a plain backup 0.72–1.07 s).
func benchQuiesce(tb testing.TB, dir string, n int64) {
	tb.Helper()
	syscall.Sync()
	f, err := os.CreateTemp(dir, "warm-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 1<<20)
	for w := int64(0); w < n; w += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			tb.Fatalf("warming the page cache: %v", err)
		}
	}
}
