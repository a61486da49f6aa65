//go:build integration

package integration_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// BenchmarkSealClassic measures a sealed classic backup (--age-recipient)
// against a plain one of the same stack (a volume of random bytes, a small
// database, the small test image) into the same directory on disk,
// alternated in one run (ABBA), and likewise the restore of the volume and
// database from each (full verify first, --age-identity for the sealed
// one). It reports, for backup and restore, the sealed/plain wall-time
// ratios (median of the rounds' ratios and ratio of the medians; goal
// ≤ 1.10), the ratio of dockpack's CPU time (user+system), and the peak
// RSS of each side. The volume is DOCKPACK_SEAL_BENCH_MIB MiB (default 256);
// DOCKPACK_SEAL_BENCH_ROUNDS rounds (default 16: one round's ratio varies by
// ±15 % on this VM even with benchQuiesce). Each run starts quiesced
// (benchQuiesce).
//
//	make bench   (or: go test -tags integration -run '^$' -bench SealClassic -benchtime 1x ./integration/)
func BenchmarkSealClassic(b *testing.B) {
	rounds := 16
	if v, err := strconv.Atoi(os.Getenv("DOCKPACK_SEAL_BENCH_ROUNDS")); err == nil && v >= 2 {
		rounds = v &^ 1 // an even count: ABBA
	}
	mib := int64(256)
	if v, err := strconv.ParseInt(os.Getenv("DOCKPACK_SEAL_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		mib = v
	}
	cli := dockertest.MustClient(b)
	p := strings.ToLower(strings.ReplaceAll(dockertest.Unique("sealbench"), "-", ""))
	image := "dockpack-test/" + p + "-app:1"
	dockertest.MustTestAppImage(b, cli, image)
	vol := p + "_data"
	dockertest.MustVolume(b, cli, vol, dockertest.ComposeVolumeLabels(p, "data"))
	dockertest.FillVolumeRandom(b, cli, image, vol, "/blob.bin", mib<<20, 11)
	dockertest.MustContainer(b, cli, dockertest.ContainerSpec{Name: p + "_app_1", Image: image,
		Labels: dockertest.ComposeLabels(p, "app", 1), Mounts: []dockertest.Mount{{Type: "volume", Source: vol, Target: "/data"}}})
	db := rsDB(b)
	k := mustSealKeys(b)
	bin := bkBuildDockpack(b)
	dir, err := os.MkdirTemp("/var/tmp", "dockpack-sealbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })

	// run runs dockpack and returns its wall time, peak RSS and CPU time
	// (user + system: what sealing adds, less exposed than the wall time to
	// the other work on a shared machine).
	run := func(args ...string) (time.Duration, int64, time.Duration) {
		benchQuiesce(b, dir, 3*mib<<20) // the pack, the restored volume, the engine's buffers
		start := time.Now()
		var out bytes.Buffer
		cmd := exec.Command(bin, append(args, "--log-level", "warn")...)
		cmd.Stdout, cmd.Stderr = &out, &out
		rss, err := runPeak(cmd)
		if err != nil {
			b.Fatalf("dockpack %s: %v\n%s", strings.Join(args, " "), err, out.Bytes())
		}
		return time.Since(start), rss, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	backupOnce := func(sealed bool) (sample, string) {
		args := []string{"backup", "--project", p, "--target", dir, "--any-fstype", "--allow-root-fs", "--sqlite", db, "--json"}
		if sealed {
			args = append(args, "--age-recipient", k.recipient)
		}
		before, _ := filepath.Glob(filepath.Join(dir, pack.NamePrefix+"*"))
		var sm sample
		sm.wall, sm.rss, sm.cpu = run(args...)
		after, _ := filepath.Glob(filepath.Join(dir, pack.NamePrefix+"*"))
		for _, pk := range after {
			if !slices.Contains(before, pk) {
				return sm, pk
			}
		}
		b.Fatal("the backup made no pack")
		return sm, ""
	}
	restoreOnce := func(pk string, sealed bool) sample {
		dest := filepath.Join(dir, "restored.db")
		os.Remove(dest)
		args := []string{"restore", pk, "--components", "volumes,db", "--force", "--sqlite-dest", dest, "--staging-dir", dir}
		if sealed {
			args = append(args, "--age-identity", k.idFile)
		}
		var sm sample
		sm.wall, sm.rss, sm.cpu = run(args...)
		matches, _ := filepath.Glob(dest + ".before-restore-*")
		for _, m := range matches {
			os.Remove(m)
		}
		return sm
	}

	for n := 0; n < b.N; n++ {
		// [0] plain, [1] sealed
		var bk, rs [2][]sample
		var size [2]int64
		for i := range rounds {
			order := []int{0, 1}
			if i%2 == 1 {
				order = []int{1, 0}
			}
			for _, j := range order {
				sm, pk := backupOnce(j == 1)
				bk[j] = append(bk[j], sm)
				rs[j] = append(rs[j], restoreOnce(pk, j == 1))
				size[j] = dirBytes(pk)
				os.RemoveAll(pk)
			}
			b.Logf("round %d: backup plain %v sealed %v; restore plain %v sealed %v", i+1,
				bk[0][i].wall.Round(time.Millisecond), bk[1][i].wall.Round(time.Millisecond), rs[0][i].wall.Round(time.Millisecond), rs[1][i].wall.Round(time.Millisecond))
		}
		report := func(what string, s [2][]sample) {
			var ratios []float64
			for i := range s[0] {
				ratios = append(ratios, s[1][i].wall.Seconds()/s[0][i].wall.Seconds())
			}
			slices.Sort(ratios)
			medRatio := (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
			wall := [2]time.Duration{median(s[0], func(x sample) time.Duration { return x.wall }), median(s[1], func(x sample) time.Duration { return x.wall })}
			cpu := [2]time.Duration{median(s[0], func(x sample) time.Duration { return x.cpu }), median(s[1], func(x sample) time.Duration { return x.cpu })}
			var rss [2]int64
			for j := range 2 {
				for _, x := range s[j] {
					rss[j] = max(rss[j], x.rss)
				}
			}
			b.ReportMetric(medRatio, what+"-median-ratio")
			b.ReportMetric(wall[1].Seconds()/wall[0].Seconds(), what+"-ratio-of-medians")
			b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), what+"-cpu-ratio")
			b.ReportMetric(mb(rss[1]), what+"-sealed-peak-RSS-MiB")
			b.Logf("%s, %d MiB volume, %d rounds: sealed/plain wall median of ratios %.3f (min %.3f max %.3f), ratio of medians %.3f (%v vs %v); "+
				"dockpack CPU (user+sys) ratio of medians %.3f (%v vs %v); peak RSS sealed %.1f MiB, plain %.1f MiB",
				what, mib, rounds, medRatio, ratios[0], ratios[len(ratios)-1], wall[1].Seconds()/wall[0].Seconds(), wall[1].Round(time.Millisecond), wall[0].Round(time.Millisecond),
				cpu[1].Seconds()/cpu[0].Seconds(), cpu[1].Round(time.Millisecond), cpu[0].Round(time.Millisecond), mb(rss[1]), mb(rss[0]))
		}
		report("backup", bk)
		report("restore", rs)
		b.Logf("pack %d bytes sealed vs %d plain (+%.3f%%)", size[1], size[0], 100*float64(size[1]-size[0])/float64(size[0]))
	}
}

// sample is one dockpack run of the seal benchmark.
type sample struct {
	wall, cpu time.Duration
	rss       int64
}

// median of f over xs (the mean of the middle two for an even count).
func median(xs []sample, f func(sample) time.Duration) time.Duration {
	v := make([]time.Duration, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }
