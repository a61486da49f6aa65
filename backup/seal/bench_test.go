package seal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/seal"
)

// BenchmarkSeal measures sealing against its anchor in the same run: the
// plain copy a writer does today (io.Copy through sha256, since the
// manifest hashes what it writes). Rounds alternate (ABBA); the medians
// give the ratio (goal of issue 16: ≤ 1.10× for a whole backup, which also
// reads, compresses and writes). Opening likewise, from memory. Memory:
// the peak heap growth during the sealed runs.
//
//	go test -run '^$' -bench BenchmarkSeal -benchtime 1x ./backup/seal/
//
// DOCKPACK_SEAL_BENCH_MIB sets the size sealed (default 256; opening uses
// at most 64 MiB of ciphertext held in memory).
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	size := int64(256)
	if v, err := strconv.Atoi(os.Getenv("DOCKPACK_SEAL_BENCH_MIB")); err == nil && v > 0 {
		size = int64(v)
	}
	size <<= 20
	openSize := min(size, 64<<20)
	idf, r := identity(b)
	k, err := seal.Load(ctx, seal.Config{Recipients: []string{r}, IdentityFiles: []string{idf}})
	if err != nil {
		b.Fatal(err)
	}
	plainRun := func(src io.Reader) time.Duration {
		t0 := time.Now()
		h := sha256.New()
		if _, err := io.Copy(h, src); err != nil {
			b.Fatal(err)
		}
		h.Sum(nil)
		return time.Since(t0)
	}
	var peak int64
	sealRun := func() time.Duration {
		stop := heapPeak()
		t0 := time.Now()
		if _, err := k.Seal(ctx, io.Discard, newCycler(size)); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		peak = max(peak, stop())
		return d
	}
	var ct bytes.Buffer
	if _, err := k.Seal(ctx, &ct, newCycler(openSize)); err != nil {
		b.Fatal(err)
	}
	plainMem := make([]byte, openSize)
	io.ReadFull(newCycler(openSize), plainMem)
	openRun := func() time.Duration {
		t0 := time.Now()
		if _, err := k.Open(ctx, io.Discard, bytes.NewReader(ct.Bytes()), nil); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	var plainT, sealT, plainOT, openT []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for round := 0; round < 4; round++ {
			if round%2 == 0 {
				plainT = append(plainT, plainRun(newCycler(size)))
				sealT = append(sealT, sealRun())
				plainOT = append(plainOT, plainRun(bytes.NewReader(plainMem)))
				openT = append(openT, openRun())
			} else {
				sealT = append(sealT, sealRun())
				plainT = append(plainT, plainRun(newCycler(size)))
				openT = append(openT, openRun())
				plainOT = append(plainOT, plainRun(bytes.NewReader(plainMem)))
			}
		}
	}
	b.StopTimer()
	mp, ms, mpo, mo := median(plainT), median(sealT), median(plainOT), median(openT)
	mbps := func(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
	b.ReportMetric(ms.Seconds()/mp.Seconds(), "seal-ratio")
	b.ReportMetric(mo.Seconds()/mpo.Seconds(), "open-ratio")
	b.ReportMetric(mbps(size, ms), "seal-MiB/s")
	b.ReportMetric(mbps(size, mp), "plain-MiB/s")
	b.ReportMetric(mbps(openSize, mo), "open-MiB/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.Logf("median of 4 (ABBA): plain copy+sha256 %v (%.0f MiB/s), seal+sha256 of ciphertext %v (%.0f MiB/s): ratio %.2f; "+
		"open %d MiB: plain %v, open %v: ratio %.2f; peak heap growth while sealing %.2f MiB; sealed %d MiB",
		mp.Round(time.Millisecond), mbps(size, mp), ms.Round(time.Millisecond), mbps(size, ms), ms.Seconds()/mp.Seconds(),
		openSize>>20, mpo.Round(time.Millisecond), mo.Round(time.Millisecond), mo.Seconds()/mpo.Seconds(), float64(peak)/(1<<20), size>>20)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
