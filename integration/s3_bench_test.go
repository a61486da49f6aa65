//go:build integration

package integration_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// BenchmarkS3BackupImages measures a classic `dockpack backup --no-volumes`
// to s3://bucket/prefix on versitygw (images.tar streamed from the engine
// into a multipart upload, nothing staged) of a project whose images total
// > 2 GiB, against its anchor in the same run: `docker save -o` into a
// local file, then an upload of that file with the same S3 client
// (stage-then-upload; goal ratio ≤ 1.0); and against the same backup to a
// local directory. Rounds alternate the order; the peak RSS is the
// dockpack process's own (its VmHWM, s3RunHWM; goal ≤ 128 MiB). DOCKPACK_S3_BENCH_FORMAT=store
// makes both backups store packs (the images by layer, chunks in the
// target's store: each round's store is emptied first, so all is new).
//
//	make bench   (or: go test -tags integration -run '^$' -bench S3BackupImages -benchtime 1x ./integration/)
//
// DOCKPACK_S3_BENCH_SCALE=n divides the layers' sizes by n and
// DOCKPACK_S3_BENCH_ROUNDS sets the rounds (default 3): a quick look at
// where time and memory go before the full run.
func BenchmarkS3BackupImages(b *testing.B) {
	rounds := max(envInt(b, "DOCKPACK_S3_BENCH_ROUNDS", 3), 1)
	scale := int64(max(envInt(b, "DOCKPACK_S3_BENCH_SCALE", 1), 1))
	format := cmp.Or(os.Getenv("DOCKPACK_S3_BENCH_FORMAT"), "classic")
	srv := MustS3(b)
	cli := dockertest.MustClient(b)
	p := strings.ToLower(dockertest.Unique("s3bench"))
	base := "dockpack-test/" + p + "-base:1"
	dockertest.MustTestAppImage(b, cli, base)
	t0 := time.Now()
	refs := []string{base}
	layer := func(from, name string, mib, seed int64) {
		ref := "dockpack-test/" + p + "-" + name + ":1"
		dockertest.MustDerivedImageRandom(b, cli, from, ref, "/"+name+".bin", mib<<20/scale, seed)
		refs = append(refs, ref)
	}
	layer(base, "a", 640, 1)
	layer(refs[1], "b", 512, 2)
	layer(base, "c", 512, 3)
	layer(refs[2], "d", 512, 4)
	refs = refs[1:]
	for i, ref := range refs {
		dockertest.MustContainer(b, cli, dockertest.ContainerSpec{Name: fmt.Sprintf("%s-svc%d-1", p, i), Image: ref,
			Labels: dockertest.ComposeLabels(p, fmt.Sprintf("svc%d", i), 1)})
	}
	b.Logf("setup: 4 images (%d MiB of distinct random layers, shared bases) in %v", 2176/scale, time.Since(t0).Round(time.Second))

	bin := bkBuildDockpack(b)
	dir, err := os.MkdirTemp("/var/tmp", "dockpack-s3bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	bucket := srv.Bucket(b, "bench")
	be := srv.Backend(b, bucket, "")
	ctx := context.Background()
	clear := func() {
		var keys []string
		_ = be.List(ctx, "", func(in storage.Info) error { keys = append(keys, in.Key); return nil })
		for _, k := range keys {
			_ = be.Remove(ctx, k)
		}
	}

	anchor := func() (time.Duration, time.Duration, int64) {
		out := filepath.Join(dir, "anchor.tar")
		start := time.Now()
		if msg, err := exec.Command("docker", append([]string{"save", "-o", out}, refs...)...).CombinedOutput(); err != nil {
			b.Fatalf("docker save: %v\n%s", err, msg)
		}
		save := time.Since(start)
		f, err := os.Open(out)
		if err != nil {
			b.Fatal(err)
		}
		fi, _ := f.Stat()
		if _, err := storage.WriteObject(ctx, be, "anchor/images.tar", f, storage.CreateOptions{SizeHint: fi.Size()}); err != nil {
			b.Fatalf("upload: %v", err)
		}
		f.Close()
		total := time.Since(start)
		os.Remove(out)
		clear()
		return total, save, fi.Size()
	}
	backup := func(target string, env []string) (time.Duration, int64) {
		start := time.Now()
		cmd := exec.Command(bin, "backup", "--project", p, "--target", target, "--any-fstype", "--allow-root-fs", "--no-volumes",
			"--format", format, "--json", "--log-level", "warn")
		cmd.Env = append(os.Environ(), env...)
		out, rss, err := s3RunHWM(cmd)
		if err != nil {
			b.Fatalf("dockpack backup --target %s: %v\n%s", target, err, out)
		}
		d := time.Since(start)
		if ru := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10; ru > rss {
			b.Logf("(rusage says %.1f MiB: this test process's RSS at the exec, see s3RunHWM)", float64(ru)/(1<<20))
		}
		packs, _ := filepath.Glob(filepath.Join(dir, pack.NamePrefix+"*"))
		for _, pk := range packs {
			os.RemoveAll(pk)
		}
		os.RemoveAll(filepath.Join(dir, "blobs"))
		os.RemoveAll(filepath.Join(dir, ".dockpack"))
		clear()
		return d, rss
	}

	for n := 0; n < b.N; n++ {
		var ratios, localRatios []float64
		var peakS3, peakLocal int64
		for i := 0; i < rounds; i++ {
			var dA, dSave, dS3, dLocal time.Duration
			var size, rssS3, rssLocal int64
			if i%2 == 0 {
				dA, dSave, size = anchor()
				dS3, rssS3 = backup("s3://"+bucket+"/packs", S3Env(srv))
				dLocal, rssLocal = backup(dir, nil)
			} else {
				dLocal, rssLocal = backup(dir, nil)
				dS3, rssS3 = backup("s3://"+bucket+"/packs", S3Env(srv))
				dA, dSave, size = anchor()
			}
			peakS3, peakLocal = max(peakS3, rssS3), max(peakLocal, rssLocal)
			r := dS3.Seconds() / dA.Seconds()
			ratios = append(ratios, r)
			localRatios = append(localRatios, dS3.Seconds()/dLocal.Seconds())
			b.Logf("round %d: dockpack → s3 %v (peak RSS %.1f MiB); docker save -o %v + upload = %v (%d bytes): ratio %.3f; dockpack → local dir %v (peak RSS %.1f MiB): s3/local %.3f",
				i+1, dS3.Round(time.Millisecond), float64(rssS3)/(1<<20), dSave.Round(time.Millisecond), dA.Round(time.Millisecond), size, r,
				dLocal.Round(time.Millisecond), float64(rssLocal)/(1<<20), dS3.Seconds()/dLocal.Seconds())
		}
		slices.Sort(ratios)
		slices.Sort(localRatios)
		med := ratios[len(ratios)/2]
		b.ReportMetric(med, "median-ratio-vs-save+upload")
		b.ReportMetric(localRatios[len(localRatios)/2], "median-s3/local")
		b.ReportMetric(float64(peakS3)/(1<<20), "peak-RSS-MiB")
		b.Logf("%s format: S3 backup of the images vs docker save -o + upload: median ratio %.3f (min %.3f, max %.3f) over %d rounds; s3/local median %.3f; dockpack peak RSS %.1f MiB to s3, %.1f MiB to a local dir",
			format, med, ratios[0], ratios[len(ratios)-1], rounds, localRatios[len(localRatios)/2], float64(peakS3)/(1<<20), float64(peakLocal)/(1<<20))
	}
}

// s3RunHWM runs cmd and returns its combined output and its own peak RSS
// (runPeak: the VmHWM the process reports as it exits). Not the rusage's
// Maxrss, whose floor would be this process's RSS, which the anchor's
// upload of a 2 GiB file raises (see runPeak).
func s3RunHWM(cmd *exec.Cmd) ([]byte, int64, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	rss, err := runPeak(cmd)
	return out.Bytes(), rss, err
}

// envInt is the integer in the variable key, else def.
func envInt(b *testing.B, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: not an integer", key, v)
	}
	return n
}
