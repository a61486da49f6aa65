//go:build integration

package integration_test

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// ibBench is a compose project of images built FROM the test app image,
// each with one layer of random bytes and a created container, and the
// dockpack binary; its scratch directory is on the disk (/var/tmp).
type ibBench struct {
	b       *testing.B
	cli     *dockertest.Client
	bin     string
	dir     string
	project string
	base    string
	refs    []string
	ids     []string
	ctrs    []string
	mib     int64 // of the built images' random layers
	perfN   int
}

func ibNew(b *testing.B, prefix string) *ibBench {
	x := &ibBench{b: b, cli: dockertest.MustClient(b), project: strings.ToLower(dockertest.Unique(prefix))}
	x.base = "dockpack-test/" + x.project + "-base:1"
	dockertest.MustTestAppImage(b, x.cli, x.base)
	x.bin = bkBuildDockpack(b)
	dir, err := os.MkdirTemp("/var/tmp", "dockpack-imgbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	x.dir = dir
	return x
}

// image builds service name's image FROM from (the base when empty) with
// a layer of mib MiB of random bytes (divided by
// $DOCKPACK_IMAGES_BENCH_DIV for a smoke run) (labelled, removed in b.Cleanup) and
// creates its container.
func (x *ibBench) image(from, name string, mib, seed int64) string {
	if from == "" {
		from = x.base
	}
	if d, err := strconv.Atoi(os.Getenv("DOCKPACK_IMAGES_BENCH_DIV")); err == nil && d > 1 {
		mib /= int64(d) // a smoke run at a fraction of the size
	}
	x.mib += mib
	ref := "dockpack-test/" + x.project + "-" + name + ":1"
	x.ids = append(x.ids, dockertest.MustDerivedImageRandom(x.b, x.cli, from, ref, "/"+name+".bin", mib<<20, seed))
	x.refs = append(x.refs, ref)
	x.ctrs = append(x.ctrs, dockertest.MustContainer(x.b, x.cli, dockertest.ContainerSpec{Name: x.project + "-" + name + "-1", Image: ref,
		Labels: dockertest.ComposeLabels(x.project, name, 1)}))
	return ref
}

// summary logs a result line (and prints it with the others).
func (x *ibBench) summary(format string, args ...any) {
	x.b.Helper()
	x.logf(format, args...)
	x.b.Logf(format, args...)
}

// logf prints a line at once on stdout (a benchmark's log keeps only
// its first lines).
func (x *ibBench) logf(format string, args ...any) {
	fmt.Printf("    %s: %s\n", x.b.Name(), fmt.Sprintf(format, args...))
}

// ibRun is one dockpack process: its wall time, peak RSS, stdout and its
// JSON log lines.
type ibRun struct {
	start time.Time
	wall  time.Duration
	cpu   time.Duration // user + system
	eng   time.Duration // dockerd's CPU meanwhile (its children's included)
	rss   int64
	out   []byte
	logs  []map[string]any
}

// dockpack runs the binary with JSON logs at info level.
func (x *ibBench) dockpack(args ...string) ibRun {
	x.b.Helper()
	args = append(args, "--log-format", "json", "--log-level", "info")
	cmd := exec.Command(x.bin, args...)
	if dir := os.Getenv("DOCKPACK_IMAGES_BENCH_PERF"); dir != "" { // profile (the figures then include perf's)
		x.perfN++
		cmd = exec.Command("perf", append([]string{"record", "-F", "499", "-g", "-o", filepath.Join(dir, fmt.Sprintf("%s-%s-%d.data", x.project, args[0], x.perfN)), "--", x.bin}, args...)...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	x.quiesce()
	start, eng := time.Now(), ibEngineCPU()
	rss, err := runPeak(cmd)
	if err != nil {
		x.b.Fatalf("dockpack %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	r := ibRun{start: start, wall: time.Since(start), rss: rss, out: stdout.Bytes(),
		cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), eng: ibEngineCPU() - eng}
	for _, line := range bytes.Split(stderr.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			r.logs = append(r.logs, m)
		}
	}
	return r
}

// secs is the duration field key of the log line msg (zap's JSON
// encoder writes durations as seconds); -1 when absent.
func (r ibRun) secs(msg, key string) time.Duration {
	for _, m := range r.logs {
		if m["msg"] == msg {
			if f, ok := m[key].(float64); ok {
				return time.Duration(f * float64(time.Second))
			}
		}
	}
	return -1
}

// docker runs the docker CLI and times it.
func (x *ibBench) docker(args ...string) ibRun {
	x.b.Helper()
	x.quiesce()
	start, eng := time.Now(), ibEngineCPU()
	cmd := exec.Command("docker", args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		x.b.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return ibRun{start: start, wall: time.Since(start), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), eng: ibEngineCPU() - eng}
}

// quiesce starts a timed run, dockpack's or the anchor's, as benchQuiesce
// does: twice the images' random layers warmed (the pack or archive, the
// engine's staging), at most 3 GiB.
func (x *ibBench) quiesce() {
	benchQuiesce(x.b, x.dir, min(2*x.mib+256, 3<<10)<<20)
}

// ibRounds is the number of rounds of an images benchmark:
// DOCKPACK_IMAGES_BENCH_ROUNDS, default 7.
func ibRounds() int {
	if v, err := strconv.Atoi(os.Getenv("DOCKPACK_IMAGES_BENCH_ROUNDS")); err == nil && v > 0 {
		return v
	}
	return 7
}

// ibEngineCPU is the CPU time dockerd and its reaped children (the
// helpers that untar a load) have used (0 when /proc does not show it).
func ibEngineCPU() time.Duration {
	out, err := exec.Command("pidof", "dockerd").Output()
	if err != nil {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strings.Fields(string(out))[0] + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	var ticks int64
	for _, i := range []int{13, 14, 15, 16} { // utime stime cutime cstime (fields 14–17)
		n, _ := strconv.ParseInt(f[i-2], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}

// cpus says a process's CPU and the engine's meanwhile.
func (r ibRun) cpus() string {
	return fmt.Sprintf("CPU %v, dockerd CPU %v", r.cpu.Round(10*time.Millisecond), r.eng.Round(10*time.Millisecond))
}

// backup runs a dockpack backup of the images only into target.
func (x *ibBench) backup(target string, args ...string) ibRun {
	return x.dockpack(append([]string{"backup", "--project", x.project, "--target", target, "--no-volumes", "--any-fstype",
		"--allow-root-fs", "--json"}, args...)...)
}

// removeContainers removes the project's containers (a restore of the
// images needs their layers gone from the engine).
func (x *ibBench) removeContainers() {
	for _, c := range x.ctrs {
		if err := dockertest.ForceRemoveContainer(x.cli, c); err != nil {
			x.b.Fatal(err)
		}
	}
	x.ctrs = nil
}

// removeImages removes the built images (the base stays), newest first.
func (x *ibBench) removeImages() {
	for _, id := range slices.Backward(x.ids) {
		if err := siRemoveImage(x.cli, id); err != nil {
			x.b.Fatal(err)
		}
	}
}

// checkImages checks that every tag names its image again.
func (x *ibBench) checkImages(what string) {
	for i, ref := range x.refs {
		ii, err := x.cli.ImageInspect(MustCtx(x.b), ref)
		if err != nil || ii.ID != x.ids[i] {
			x.b.Fatalf("after %s: %s is %s %v, want %s", what, ref, ii.ID, err, x.ids[i])
		}
	}
}

// restoreVsLoad restores the pack's images rounds times (the images
// removed before each) alternately with `docker load -i anchor`, and
// returns the median ratio and the peak RSS.
func (x *ibBench) restoreVsLoad(pk, anchor string, rounds int) (float64, int64) {
	var ratios []float64
	var peak int64
	for i := range rounds {
		var rr ibRun
		var dl ibRun
		restore := func() {
			x.removeImages()
			rr = x.dockpack("restore", pk, "--components", "images", "--no-verify", "--json")
			x.checkImages("dockpack restore")
		}
		load := func() {
			x.removeImages()
			dl = x.docker("load", "-q", "-i", anchor)
			x.checkImages("docker load")
		}
		if i%2 == 0 {
			restore()
			load()
		} else {
			load()
			restore()
		}
		peak = max(peak, rr.rss)
		r := rr.wall.Seconds() / dl.wall.Seconds()
		ratios = append(ratios, r)
		x.logf("restore round %d: dockpack restore --components images %v (images step %v: layer chains %v, load %v (upload %v), tags checked %v; %v bytes sent; peak RSS %.1f MiB; %s), docker load -i %v (%s): ratio %.3f",
			i+1, rr.wall.Round(time.Millisecond), rr.secs("images loaded", "took").Round(time.Millisecond),
			rr.secs("images loaded", "chains").Round(time.Millisecond), rr.secs("images loaded", "load").Round(time.Millisecond), rr.secs("images loaded", "upload").Round(time.Millisecond),
			rr.secs("images loaded", "check").Round(time.Millisecond), ibBytes(rr, "images loaded"), float64(rr.rss)/(1<<20), rr.cpus(),
			dl.wall.Round(time.Millisecond), dl.cpus(), r)
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2], peak
}

func ibBytes(r ibRun, msg string) int64 {
	for _, m := range r.logs {
		if m["msg"] == msg {
			if f, ok := m["bytes"].(float64); ok {
				return int64(f)
			}
		}
	}
	return -1
}

// BenchmarkImagesStoreUnchanged is issue 13's benchmark of images by layer
// on a stack of three images built FROM the test app image with 2 GiB of
// distinct random layers: a store backup of its images, then a second one
// of the unchanged stack — bytes written and images step wall against the
// first (goals ≤ 0.01 and ≤ 0.05) —, the first against `docker save -o`
// of the same images; then the images restored from the store (into an
// engine without them) against `docker load -i` of that docker save,
// alternated (goal ≤ 1.0×). Peak RSS of every dockpack process.
//
//	make bench   (or: go test -tags integration -run '^$' -bench ImagesStore -benchtime 1x ./integration/)
func BenchmarkImagesStoreUnchanged(b *testing.B) {
	rounds := ibRounds()
	x := ibNew(b, "dpimgstore")
	t0 := time.Now()
	a := x.image("", "a", 768, 11)
	x.image(a, "b", 640, 12)
	x.image("", "c", 640, 13)
	b.Logf("setup: 3 images (%d MiB of distinct random layers FROM the test app image) in %v", x.mib, time.Since(t0).Round(time.Second))
	for n := 0; n < b.N; n++ {
		target := filepath.Join(x.dir, fmt.Sprintf("target-%d", n))
		os.MkdirAll(target, 0o700)
		anchor := filepath.Join(x.dir, "anchor.tar")
		ds := x.docker(append([]string{"save", "-o", anchor}, x.refs...)...)
		fi, _ := os.Stat(anchor)

		first := x.backup(target, "--format", "store")
		b1 := dirBytes(target)
		second := x.backup(target, "--format", "store")
		b2 := dirBytes(target) - b1
		s1, s2 := first.secs("images stored", "took"), second.secs("images stored", "took")
		bytesRatio, wallRatio := float64(b2)/float64(b1), s2.Seconds()/s1.Seconds()
		x.logf("docker save -o of the 3 images: %v, %d bytes (%s)", ds.wall.Round(time.Millisecond), fi.Size(), ds.cpus())
		x.logf("first store backup: %v (images step %v: lookup %v, ImageSave split into the store %v, chunk lists %v), %d bytes written, peak RSS %.1f MiB; images step / docker save -o %.3f",
			first.wall.Round(time.Millisecond), s1.Round(time.Millisecond), first.secs("images stored", "lookup").Round(time.Millisecond),
			first.secs("images stored", "save").Round(time.Millisecond), first.secs("images stored", "record").Round(time.Millisecond),
			b1, float64(first.rss)/(1<<20), s1.Seconds()/ds.wall.Seconds())
		x.summary("unchanged re-backup: %v (images step %v: lookup %v, no ImageSave %v, chunk lists %v), %d bytes written, peak RSS %.1f MiB; bytes / first pack %.5f (goal ≤ 0.01), images step / first images step %.4f (goal ≤ 0.05)",
			second.wall.Round(time.Millisecond), s2.Round(time.Millisecond), second.secs("images stored", "lookup").Round(time.Millisecond),
			second.secs("images stored", "save").Round(time.Millisecond), second.secs("images stored", "record").Round(time.Millisecond),
			b2, float64(second.rss)/(1<<20), bytesRatio, wallRatio)
		if bytesRatio > 0.01 || wallRatio > 0.05 {
			b.Errorf("unchanged re-backup: bytes ratio %.5f, images step ratio %.4f", bytesRatio, wallRatio)
		}

		packs, _ := filepath.Glob(filepath.Join(target, pack.NamePrefix+"*"))
		slices.Sort(packs)
		x.removeContainers()
		med, rss := x.restoreVsLoad(packs[len(packs)-1], anchor, rounds)
		x.summary("restore of the images from the store vs docker load -i: median ratio %.3f over %d rounds (goal ≤ 1.0), peak RSS %.1f MiB", med, rounds, float64(rss)/(1<<20))
		b.ReportMetric(bytesRatio, "rebackup-bytes-ratio")
		b.ReportMetric(wallRatio, "rebackup-images-wall-ratio")
		b.ReportMetric(med, "restore-vs-load")
		b.ReportMetric(float64(max(first.rss, second.rss, rss))/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkImagesClassic is issue 13's benchmark of the classic path on
// three images FROM the test app image with 1 GiB of distinct random
// layers: a classic backup of the images (`dockpack backup --no-volumes`)
// against `docker save -o` of the same images into the same directory,
// then `dockpack restore --components images` of that pack (--no-verify:
// images.tar still checked as it streams — its configs and tags by
// dockpack, its layers by the engine against their DiffIDs) against
// `docker load -i`, each alternated (goal ≤ 1.00× both). Each dockpack run
// says where its time goes: until the images step (prechecks, engine
// calls), the engine staging the export before its first byte, the
// stream (validated, hashed, written), the fsync, the rest (manifest,
// SHA256SUMS, commit).
//
//	make bench   (or: go test -tags integration -run '^$' -bench ImagesClassic -benchtime 1x ./integration/)
func BenchmarkImagesClassic(b *testing.B) {
	rounds := ibRounds()
	x := ibNew(b, "dpimgclassic")
	t0 := time.Now()
	a := x.image("", "a", 384, 21)
	x.image("", "b", 320, 22)
	x.image(a, "c", 320, 23)
	b.Logf("setup: 3 images (%d MiB of distinct random layers FROM the test app image) in %v", x.mib, time.Since(t0).Round(time.Second))
	for n := 0; n < b.N; n++ {
		target := filepath.Join(x.dir, fmt.Sprintf("classic-%d", n))
		os.MkdirAll(target, 0o700)
		anchor := filepath.Join(x.dir, "anchor.tar")
		var ratios, stepRatios, syncRatios []float64
		var peak int64
		var pk string
		for i := range rounds {
			var br ibRun
			var ds ibRun
			var dsync time.Duration
			save := func() {
				os.Remove(anchor)
				ds = x.docker(append([]string{"save", "-o", anchor}, x.refs...)...)
				dsync = ibFsync(x.b, anchor)
			}
			backup := func() {
				packs, _ := filepath.Glob(filepath.Join(target, pack.NamePrefix+"*"))
				for _, p := range packs {
					os.RemoveAll(p)
				}
				br = x.backup(target)
				packs, _ = filepath.Glob(filepath.Join(target, pack.NamePrefix+"*"))
				pk = packs[0]
			}
			if i%2 == 0 {
				save()
				backup()
			} else {
				backup()
				save()
			}
			peak = max(peak, br.rss)
			step := br.secs("images saved", "took")
			r, sr := br.wall.Seconds()/ds.wall.Seconds(), step.Seconds()/ds.wall.Seconds()
			syncRatios = append(syncRatios, br.wall.Seconds()/(ds.wall+dsync).Seconds())
			ratios, stepRatios = append(ratios, r), append(stepRatios, sr)
			x.logf("backup round %d: dockpack backup %v = before the images step %v + images step %v (engine's first byte %v, stream %v, fsync %v) + after %v; peak RSS %.1f MiB; %s; docker save -o %v (%s), then fsync of its file %v; ratio %.3f (images step alone %.3f; vs docker save -o + fsync %.3f)",
				i+1, br.wall.Round(time.Millisecond), ibBefore(br).Round(time.Millisecond), step.Round(time.Millisecond),
				br.secs("images saved", "first_byte").Round(time.Millisecond), br.secs("images saved", "stream").Round(time.Millisecond),
				br.secs("images saved", "sync").Round(time.Millisecond), (br.wall - ibBefore(br) - step).Round(time.Millisecond),
				float64(br.rss)/(1<<20), br.cpus(), ds.wall.Round(time.Millisecond), ds.cpus(), dsync.Round(time.Millisecond), r, sr, syncRatios[i])
		}
		slices.Sort(ratios)
		slices.Sort(stepRatios)
		slices.Sort(syncRatios)
		x.summary("classic backup of the images vs docker save -o: median ratio %.3f (whole process), %.3f (images step) over %d rounds (goal ≤ 1.00); vs docker save -o + fsync %.3f; peak RSS %.1f MiB",
			ratios[len(ratios)/2], stepRatios[len(stepRatios)/2], rounds, syncRatios[len(syncRatios)/2], float64(peak)/(1<<20))

		x.removeContainers()
		med, rss := x.restoreVsLoad(pk, anchor, rounds)
		x.summary("classic restore of the images vs docker load -i: median ratio %.3f over %d rounds (goal ≤ 1.00), peak RSS %.1f MiB", med, rounds, float64(rss)/(1<<20))
		b.ReportMetric(ratios[len(ratios)/2], "backup-vs-save")
		b.ReportMetric(stepRatios[len(stepRatios)/2], "images-step-vs-save")
		b.ReportMetric(syncRatios[len(syncRatios)/2], "backup-vs-save+fsync")
		b.ReportMetric(med, "restore-vs-load")
		b.ReportMetric(float64(max(peak, rss))/(1<<20), "peak-RSS-MiB")
	}
}

// ibBefore is the time from the process's start to the images step's
// first progress event (-1 when none).
func ibBefore(r ibRun) time.Duration {
	for _, line := range bytes.Split(r.out, []byte("\n")) {
		var ev struct {
			Step string    `json:"step"`
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Step == "images" && !ev.Time.IsZero() {
			return ev.Time.Sub(r.start)
		}
	}
	return -1
}

// ibFsync fsyncs a file (what a pack's file gets and docker save -o does
// not do) and times it.
func ibFsync(b *testing.B, name string) time.Duration {
	t0 := time.Now()
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}
