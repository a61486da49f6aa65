//go:build integration

package integration_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dockpack/dockpack/sqlitesnap"
)

// BenchmarkSQLiteSnapshot: a 1 GiB database, generated once per run in a
// temp dir on the root file system (not tmpfs), copied alternately by the
// anchor `sqlite3 SRC ".backup DST"` (Debian's /usr/bin/sqlite3) and by
// sqlitesnap.Snapshot, ssBenchRounds times, with a sync between runs so one
// run's writeback doesn't slow the next. Reported:
//
//	ratio        median Snapshot's snapshot-to-staging phase / median sqlite3 .backup (goal <= 1.2)
//	cli-s        median sqlite3 .backup
//	stage-s      median snapshot-to-staging phase (Result.SnapshotDuration)
//	whole-s      median whole Snapshot (stage + quick_check + checksummed copy to dst)
//	peak-rss-MiB the highest VmHWM of this (test) process during a Snapshot,
//	             reset to the current RSS before each (logged beside it)
//	cli-rss-MiB  sqlite3's peak RSS (its VmHWM, sampled every 10 ms)
//
// DOCKPACK_BENCH_PAGES_PER_STEP overrides Options.PagesPerStep (for tuning).
//
//	go test -tags integration -run '^$' -bench BenchmarkSQLite -benchtime 1x -timeout 30m ./integration/
func BenchmarkSQLiteSnapshot(b *testing.B) {
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		b.Skipf("the anchor needs the sqlite3 shell (apt-get install sqlite3): %v", err)
	}
	dir := b.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil || fs.Type == unix.TMPFS_MAGIC {
		b.Fatalf("%s is on tmpfs (or statfs failed: %v); set TMPDIR to a disk file system", dir, err)
	}
	src := filepath.Join(dir, "bench.db")
	ssBuildDB(b, src, "wal", 1<<30)
	o := sqlitesnap.Options{StagingDir: dir}
	if v := os.Getenv("DOCKPACK_BENCH_PAGES_PER_STEP"); v != "" {
		if o.PagesPerStep, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	steps := o.PagesPerStep
	if steps == 0 {
		steps = sqlitesnap.DefaultPagesPerStep
	}
	ctx := context.Background()
	cliDst, dst := filepath.Join(dir, "cli.db"), filepath.Join(dir, "snap.db")

	runCLI := func() (time.Duration, int64) {
		os.Remove(cliDst)
		var out strings.Builder
		cmd := exec.Command(cli, src, ".backup "+cliDst)
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// The child's rusage maxrss would include this process's RSS (Go
		// starts children with vfork and exec records the old hiwater), so
		// sample the shell's own VmHWM while it runs.
		var rss int64
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		statusPath := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if data, err := os.ReadFile(statusPath); err == nil {
				rss = max(rss, ssStatusKiB(string(data), "VmHWM:")<<10)
			}
			select {
			case err := <-waited:
				if err != nil {
					b.Fatalf("sqlite3 .backup: %v: %s", err, out.String())
				}
				took := time.Since(start)
				os.Remove(cliDst)
				return took, rss
			case <-tick.C:
			}
		}
	}
	var baseRSS int64 // this process's RSS right before a Snapshot
	runSnap := func() (sqlitesnap.Result, time.Duration, int64) {
		os.Remove(dst)
		ssResetHWM(b)
		if data, err := os.ReadFile("/proc/self/status"); err == nil {
			baseRSS = max(baseRSS, ssStatusKiB(string(data), "VmRSS:")<<10)
		}
		start := time.Now()
		res, err := sqlitesnap.Snapshot(ctx, src, dst, o)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		hwm := ssHWM(b)
		os.Remove(dst)
		return res, took, hwm
	}

	var cliT, stageT, wholeT []time.Duration
	var peak, cliRSS int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < ssBenchRounds; r++ {
			var c, whole time.Duration
			var crss, hwm int64
			var res sqlitesnap.Result
			// Alternate who goes first (ABBA), so neither always finds a
			// warmer cache or a quieter disk.
			if r%2 == 0 {
				c, crss = runCLI()
				syscall.Sync()
				res, whole, hwm = runSnap()
			} else {
				res, whole, hwm = runSnap()
				syscall.Sync()
				c, crss = runCLI()
			}
			syscall.Sync()
			cliT, stageT, wholeT = append(cliT, c), append(stageT, res.SnapshotDuration), append(wholeT, whole)
			peak, cliRSS = max(peak, hwm), max(cliRSS, crss)
			b.Logf("round %d: sqlite3 .backup %v (VmHWM %.1f MiB) | Snapshot: stage %v (%.2fx), check %v, copy %v, whole %v | VmHWM %.1f MiB",
				r+1, c.Round(time.Millisecond), float64(crss)/(1<<20), res.SnapshotDuration.Round(time.Millisecond),
				res.SnapshotDuration.Seconds()/c.Seconds(), res.CheckDuration.Round(time.Millisecond),
				res.CopyDuration.Round(time.Millisecond), whole.Round(time.Millisecond), float64(hwm)/(1<<20))
		}
	}
	b.StopTimer()
	mc, ms, mw := ssMedian(cliT), ssMedian(stageT), ssMedian(wholeT)
	b.ReportMetric(ms.Seconds()/mc.Seconds(), "ratio")
	b.ReportMetric(mc.Seconds(), "cli-s")
	b.ReportMetric(ms.Seconds(), "stage-s")
	b.ReportMetric(mw.Seconds(), "whole-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(cliRSS)/(1<<20), "cli-rss-MiB")
	b.Logf("median: sqlite3 .backup %v, snapshot-to-staging %v (ratio %.2f, goal <= 1.2), whole Snapshot %v; peak RSS %.1f MiB (%.1f MiB before the Snapshot; sqlite3 %.1f MiB); PagesPerStep %d",
		mc.Round(time.Millisecond), ms.Round(time.Millisecond), ms.Seconds()/mc.Seconds(), mw.Round(time.Millisecond),
		float64(peak)/(1<<20), float64(baseRSS)/(1<<20), float64(cliRSS)/(1<<20), steps)
}

const ssBenchRounds = 4

func ssMedian(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ssResetHWM resets this process's peak RSS (VmHWM) to its current RSS.
func ssResetHWM(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset VmHWM (%v); peak RSS covers the whole run", err)
	}
}

// ssHWM reads VmHWM (bytes) from /proc/self/status.
func ssHWM(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	kb := ssStatusKiB(string(data), "VmHWM:")
	if kb <= 0 {
		b.Fatal("no VmHWM in /proc/self/status")
	}
	return kb << 10
}

// ssStatusKiB returns the value (kB) of a /proc/PID/status field, 0 if absent.
func ssStatusKiB(status, field string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}
