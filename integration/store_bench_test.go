//go:build integration

package integration_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkStoreVsRestic measures a store backup (`dockpack backup
// --format store`, volume and database) of the full-size ratio volume
// against `restic backup --stdin` (Debian's restic, a local repository on
// the same disk, compression auto) fed the same volume tar, first run and
// after the 1 % change: new bytes and wall as ratios; then dockpack's full
// verify throughput against sha256sum of the same bytes, and the peak RSS
// of the store backup.
//
//	make bench   (or make store-big)
func BenchmarkStoreVsRestic(b *testing.B) {
	restic, err := exec.LookPath("restic")
	if err != nil {
		b.Skip("restic is not installed (make bench installs Debian's)")
	}
	v := stFullSize()
	s := stNewStack(b, v, 64<<20)
	dir, err := os.MkdirTemp("/var/tmp", "dockpack-storebench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	target, repo := filepath.Join(dir, "target"), filepath.Join(dir, "restic")
	os.MkdirAll(target, 0o700)
	bin := bkBuildDockpack(b)
	env := append(os.Environ(), "RESTIC_PASSWORD=dockpack-bench", "RESTIC_REPOSITORY="+repo, "RESTIC_CACHE_DIR="+filepath.Join(dir, "cache"))
	if out, err := stCmd(env, nil, restic, "init").CombinedOutput(); err != nil {
		b.Fatalf("restic init: %v\n%s", err, out)
	}
	ver, _ := exec.Command(restic, "version").Output()
	runDockpack := func() (time.Duration, int64, int64) {
		before := dirBytes(target)
		t0 := time.Now()
		cmd := exec.Command(bin, "backup", "--format", "store", "--no-images", "--project", s.project, "--target", target, "--sqlite", s.db,
			"--any-fstype", "--allow-root-fs", "--json", "--log-level", "warn")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		rss, err := runPeak(cmd)
		if err != nil {
			b.Fatalf("dockpack backup: %v\n%s%s", err, out.Bytes(), errOut.Bytes())
		}
		wall := time.Since(t0)
		b.Logf("dockpack steps (from the start of the process): %s", stStepTimes(t0, out.Bytes()))
		return wall, dirBytes(target) - before, rss
	}
	runRestic := func() (time.Duration, int64) {
		before := dirBytes(repo)
		t0 := time.Now()
		rc, _, err := s.cli.CopyFromContainer(stCtx(b), s.app, "/data")
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		cmd := stCmd(env, rc, restic, "backup", "--stdin", "--stdin-filename", "volume.tar", "--quiet")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("restic backup --stdin: %v\n%s", err, out)
		}
		return time.Since(t0), dirBytes(repo) - before
	}
	for n := 0; n < b.N; n++ {
		var lines []string
		report := func(what string, dd time.Duration, db int64, rd time.Duration, rb int64) {
			l := fmt.Sprintf("%s: dockpack %v %d new bytes; restic %v %d new bytes; bytes ratio %.3f, wall ratio %.3f",
				what, dd.Round(time.Millisecond), db, rd.Round(time.Millisecond), rb, float64(db)/float64(rb), dd.Seconds()/rd.Seconds())
			lines = append(lines, l)
			b.Log(l)
		}
		dd, db, rss := runDockpack()
		rd, rb := runRestic()
		report("first run", dd, db, rd, rb)
		stImport(b, s.eng, s.volume, s.image, v, true)
		dd2, db2, rss2 := runDockpack()
		rd2, rb2 := runRestic()
		report("1% change", dd2, db2, rd2, rb2)
		peak := max(rss, rss2)

		// Full verify of the newest pack against sha256sum of the same bytes (its bundles).
		packs, _ := filepath.Glob(filepath.Join(target, "migration_pack_*"))
		newest := packs[len(packs)-1]
		t0 := time.Now()
		out, err := exec.Command(bin, "verify", newest, "--json").Output()
		if err != nil {
			b.Fatalf("dockpack verify: %v\n%s", err, out)
		}
		dv := time.Since(t0)
		var vr struct {
			Bytes int64 `json:"bytes"`
		}
		json.Unmarshal(out, &vr)
		bundles, _ := filepath.Glob(filepath.Join(target, "blobs", "data", "*", "*"))
		t0 = time.Now()
		if out, err := exec.Command("sha256sum", bundles...).CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
		ds := time.Since(t0)
		sumBytes := int64(0)
		for _, f := range bundles {
			if fi, err := os.Stat(f); err == nil {
				sumBytes += fi.Size()
			}
		}
		vt, st := float64(vr.Bytes)/dv.Seconds(), float64(sumBytes)/ds.Seconds()
		l := fmt.Sprintf("full verify: %d bytes read in %v (%.0f MiB/s); sha256sum of the %d bundle bytes: %v (%.0f MiB/s); throughput ratio %.3f; store backup peak RSS %.1f MiB; %s",
			vr.Bytes, dv.Round(time.Millisecond), vt/(1<<20), sumBytes, ds.Round(time.Millisecond), st/(1<<20), vt/st, float64(peak)/(1<<20), strings.TrimSpace(string(ver)))
		lines = append(lines, l)
		b.Log(l)
		b.ReportMetric(float64(db)/float64(rb), "first-bytes-ratio")
		b.ReportMetric(dd.Seconds()/rd.Seconds(), "first-wall-ratio")
		b.ReportMetric(float64(db2)/float64(rb2), "change-bytes-ratio")
		b.ReportMetric(dd2.Seconds()/rd2.Seconds(), "change-wall-ratio")
		b.ReportMetric(vt/st, "verify-vs-sha256sum")
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		if peak > 128<<20 {
			b.Errorf("store backup peak RSS %.1f MiB > 128 MiB", float64(peak)/(1<<20))
		}
		stReport("%s", strings.Join(lines, "\n"))
	}
}

func stCmd(env []string, stdin io.Reader, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = stdin
	} else {
		cmd.Stdin = bytes.NewReader(nil)
	}
	return cmd
}

// stStepTimes says when each step of a backup began (its JSON progress
// lines), counted from t0.
func stStepTimes(t0 time.Time, out []byte) string {
	var parts []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		var ev struct {
			Step string    `json:"step"`
			Time time.Time `json:"time"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Step == "" || ev.Time.IsZero() || seen[ev.Step] {
			continue
		}
		seen[ev.Step] = true
		parts = append(parts, fmt.Sprintf("%s@%.1fs", ev.Step, ev.Time.Sub(t0).Seconds()))
	}
	return strings.Join(parts, " ")
}
