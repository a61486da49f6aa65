//go:build integration

package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// An engine that stops sending the image export (a proxy in front of the
// real engine stalls GET /images/get after 64 KiB) fails the job with
// error code stalled naming the images step, after the stall timeout, and
// leaves nothing behind.
func TestDaemonStalledImageExport(t *testing.T) {
	const stall = 2 * time.Second
	s := dmNewStack(t, 16<<10)
	target := MustTmpfs(t, 256<<20)
	proxy := dockertest.NewFaultProxy(t, "", dockertest.Fault{Method: "GET", Path: dockertest.PathImageSave,
		AfterBytes: 64 << 10, Action: dockertest.Stall})
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s, noSched: true,
		args: []string{"--stall-timeout", stall.String(), "--images-first-byte-rate", "1GiB", "--stop-all"},
		env:  []string{"DOCKER_HOST=" + proxy.Host()}})
	t0 := time.Now()
	j := d.start("db", "volumes", "images")
	got := d.waitEnded(j.ID, 60*time.Second)
	took := time.Since(t0)
	if got.Status != jobs.StatusFailed || got.ErrorCode == nil || *got.ErrorCode != "stalled" {
		t.Fatalf("job behind a stalling engine: %s, want failed/stalled", dmJobString(got))
	}
	if got.Detail == nil || !strings.Contains(*got.Detail, "images") {
		t.Errorf("the detail does not name the images step: %s", dmJobString(got))
	}
	if proxy.Hits() == 0 {
		t.Error("the image export never went through the stalling proxy")
	}
	if took < stall {
		t.Errorf("failed after %v, before the stall timeout %v", took, stall)
	}
	t.Logf("stalled image export: job failed (%s) %v after the start, stall timeout %v", *got.ErrorCode, took.Round(time.Millisecond), stall)
	dmWait(t, 30*time.Second, "lock released", func() bool { return !d.lock().Held })
	dmAssertClean(t, target, s)
	if packs, _ := TargetDirs(t, target); len(packs) > 0 {
		t.Errorf("packs after a stalled backup: %v", packs)
	}
}
