//go:build integration

package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// BenchmarkBackupImagesVsDockerSave measures dockpack's images step (a
// `dockpack backup --no-volumes` of a project whose images total > 2 GiB with
// shared layers) against `docker save -o` of the same images into the same
// directory, alternated in one run; then the whole pack's throughput against
// `dd conv=fsync` writing as many bytes to the same directory.
//
//	make bench   (or: go test -tags integration -run '^$' -bench BackupImages -benchtime 1x ./integration/)
func BenchmarkBackupImagesVsDockerSave(b *testing.B) {
	const rounds = 5
	cli := dockertest.MustClient(b)
	p := strings.ToLower(dockertest.Unique("dpbench"))
	base := "dockpack-test/" + p + "-base:1"
	dockertest.MustTestAppImage(b, cli, base)
	t0 := time.Now()
	refs := []string{base}
	layer := func(from, name string, mib, seed int64) {
		ref := "dockpack-test/" + p + "-" + name + ":1"
		dockertest.MustDerivedImageRandom(b, cli, from, ref, "/"+name+".bin", mib<<20, seed)
		refs = append(refs, ref)
	}
	layer(base, "a", 640, 1)
	layer(refs[1], "b", 512, 2)
	layer(base, "c", 512, 3)
	layer(refs[2], "d", 512, 4)
	refs = refs[1:] // the four big images; the base is their shared parent
	for i, ref := range refs {
		dockertest.MustContainer(b, cli, dockertest.ContainerSpec{Name: fmt.Sprintf("%s-svc%d-1", p, i), Image: ref,
			Labels: dockertest.ComposeLabels(p, fmt.Sprintf("svc%d", i), 1)})
	}
	b.Logf("setup: 4 images (2176 MiB of distinct random layers, shared bases) in %v", time.Since(t0).Round(time.Second))

	bin := bkBuildDockpack(b)
	dir, err := os.MkdirTemp("/var/tmp", "dockpack-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })

	runSave := func() (time.Duration, int64) {
		out := filepath.Join(dir, "anchor.tar")
		start := time.Now()
		cmd := exec.Command("docker", append([]string{"save", "-o", out}, refs...)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("docker save: %v\n%s", err, msg)
		}
		d := time.Since(start)
		fi, _ := os.Stat(out)
		os.Remove(out)
		return d, fi.Size()
	}
	runDockpack := func(args ...string) (time.Duration, int64, int64) {
		start := time.Now()
		cmd := exec.Command(bin, append([]string{"backup", "--project", p, "--target", dir, "--any-fstype", "--allow-root-fs",
			"--json", "--log-level", "warn"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		rss, err := runPeak(cmd)
		if err != nil {
			b.Fatalf("dockpack backup: %v\n%s", err, out.Bytes())
		}
		d := time.Since(start)
		packs, _ := filepath.Glob(filepath.Join(dir, pack.NamePrefix+"*"))
		var size int64
		for _, pk := range packs {
			size += dirBytes(pk)
			os.RemoveAll(pk)
		}
		return d, size, rss
	}

	for n := 0; n < b.N; n++ {
		var ratios []float64
		var peak, dpBytes, saveBytes int64
		for i := 0; i < rounds; i++ {
			var ds, dd time.Duration
			var rss int64
			if i%2 == 0 {
				ds, saveBytes = runSave()
				dd, dpBytes, rss = runDockpack("--no-volumes")
			} else {
				dd, dpBytes, rss = runDockpack("--no-volumes")
				ds, saveBytes = runSave()
			}
			peak = max(peak, rss)
			r := dd.Seconds() / ds.Seconds()
			ratios = append(ratios, r)
			b.Logf("round %d: dockpack %v (%d bytes), docker save -o %v (%d bytes): ratio %.3f", i+1, dd.Round(time.Millisecond), dpBytes,
				ds.Round(time.Millisecond), saveBytes, r)
		}
		slices.Sort(ratios)
		med := ratios[len(ratios)/2]
		b.ReportMetric(med, "median-ratio")
		b.ReportMetric(ratios[len(ratios)-1]-ratios[0], "ratio-spread")
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		b.Logf("images step vs docker save -o: median ratio %.3f (min %.3f, max %.3f) over %d rounds; dockpack peak RSS %.1f MiB",
			med, ratios[0], ratios[len(ratios)-1], rounds, float64(peak)/(1<<20))

		// The whole pack (database, a 512 MiB volume, images) against dd.
		vol := p + "_data"
		dockertest.MustVolume(b, cli, vol, dockertest.ComposeVolumeLabels(p, "data"))
		dockertest.FillVolumeRandom(b, cli, base, vol, "/blob.bin", 512<<20, 9)
		dockertest.MustContainer(b, cli, dockertest.ContainerSpec{Name: p + "-db-1", Image: base,
			Labels: dockertest.ComposeLabels(p, "db", 1), Mounts: []dockertest.Mount{{Type: "volume", Source: vol, Target: "/data"}}})
		db := MustSmallDB(b, "")
		dFull, fullBytes, fullRSS := runDockpack("--sqlite", db)
		ddFile := filepath.Join(dir, "dd.out")
		start := time.Now()
		if msg, err := exec.Command("dd", "if=/dev/zero", "of="+ddFile, "bs=1M", fmt.Sprintf("count=%d", fullBytes>>20), "conv=fsync").CombinedOutput(); err != nil {
			b.Fatalf("dd: %v\n%s", err, msg)
		}
		dDD := time.Since(start)
		os.Remove(ddFile)
		tput := float64(fullBytes) / dFull.Seconds()
		ddTput := float64(fullBytes>>20<<20) / dDD.Seconds()
		b.ReportMetric(tput/ddTput, "pack-vs-dd-throughput")
		b.Logf("whole pack: %d bytes in %v (%.0f MiB/s, peak RSS %.1f MiB); dd conv=fsync of the same bytes: %v (%.0f MiB/s); throughput ratio %.3f",
			fullBytes, dFull.Round(time.Millisecond), tput/(1<<20), float64(fullRSS)/(1<<20), dDD.Round(time.Millisecond), ddTput/(1<<20), tput/ddTput)
	}
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// bkBuildDockpack builds the dockpack binary once into a temp dir.
func bkBuildDockpack(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "dockpack")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "dockpacktest", "-o", bin, "github.com/dockpack/dockpack/cmd/dockpack") // with the test seams
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build dockpack: %v\n%s", err, out)
	}
	return bin
}
