package precheck_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
)

// cpCompose is the demo stack's compose file: app depends on worker; index
// (never started) declares a volume the engine does not have; app binds a
// small config file.
const cpCompose = `services:
  app:
    image: demo/app:1
    depends_on: [worker]
    volumes:
      - data:/data
      - ./app.ini:/etc/app.ini:ro
  worker:
    image: demo/worker:1
  index:
    image: demo/index:1
    volumes:
      - esdata:/es
volumes:
  data:
    name: demo_data
  esdata:
`

// cpOptions: the demo stack with a readable compose file beside a config file.
func cpOptions(t *testing.T, compose string) precheck.Options {
	t.Helper()
	o, _ := cpOptionsEngine(t, compose)
	return o
}

func cpOptionsEngine(t *testing.T, compose string) (precheck.Options, *backuptest.Engine) {
	t.Helper()
	o, eng := pcOptions(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(f, []byte(compose), 0o644)
	os.WriteFile(filepath.Join(dir, "app.ini"), []byte("[app]\n"), 0o644)
	eng.Stack.ComposeFiles, eng.Stack.WorkingDir = []string{f}, dir
	eng.Stack.Containers[0].Mounts = []dockerapi.Mount{{Type: "volume", Name: "demo_data", Destination: "/data", RW: true},
		{Type: "bind", Source: filepath.Join(dir, "app.ini"), Destination: "/etc/app.ini"}}
	eng.Stack.Containers[0].Labels = map[string]string{}
	eng.Stack.Containers[1].Labels = map[string]string{}
	eng.Stack.Skipped = []dockerapi.Skipped{{Kind: "bind", Source: filepath.Join(dir, "app.ini"), Destination: "/etc/app.ini", Container: "demo_app_1"}}
	return o, eng
}

func TestComposeCheckFailsOnAMissedVolume(t *testing.T) {
	o := cpOptions(t, cpCompose)
	c, rs := pcRun(t, o)
	r := rs[precheck.NameCompose]
	if r.Check.Status != check.Fail || r.Check.Code != "volume_missed" || !errors.Is(r.Err, precheck.ErrIncomplete) ||
		!strings.Contains(r.Err.Error(), "demo_esdata") || !strings.Contains(r.Err.Error(), "does not exist on the engine") {
		t.Fatalf("compose check %+v: %v", r.Check, r.Err)
	}
	if !strings.Contains(r.Check.Summary, "demo_esdata") {
		t.Errorf("summary %q", r.Check.Summary)
	}
	// The bind of the model is captured: not skipped, no warning about it.
	if len(c.Facts.Skipped) != 0 {
		t.Errorf("skipped %+v", c.Facts.Skipped)
	}
	if st := rs[precheck.NameStack].Check; strings.Contains(st.Detail+st.Summary, "bind mount") {
		t.Errorf("stack check warns about a captured bind: %+v", st)
	}
	if b := c.Facts.Consistency.Binds; len(b) != 1 || !b[0].Captured() || b[0].Size != 6 {
		t.Errorf("binds %+v", b)
	}
}

func TestComposeCheckExcludedVolumeAndStopApps(t *testing.T) {
	compose := strings.Replace(cpCompose, "    image: demo/index:1\n", "    image: demo/index:1\n    labels:\n      dockpack.volumes: exclude\n      dockpack.exclude-reason: rebuilt from the database\n", 1)
	o := cpOptions(t, compose)
	o.StopApps = []string{"worker"} // app depends on worker: both stop, app first
	c, rs := pcRun(t, o)
	r := rs[precheck.NameCompose]
	if r.Check.Status != check.Warn || r.Check.Code != "volume_absent" || r.Err != nil {
		t.Fatalf("compose check %+v: %v", r.Check, r.Err)
	}
	var names []string
	for _, ct := range c.Facts.Stop {
		names = append(names, ct.Name)
	}
	// worker's container is exited in the demo stack: only app runs, and stops.
	if strings.Join(names, ",") != "demo_app_1" {
		t.Fatalf("stop %v", names)
	}
	ev := map[string][]string{}
	for _, e := range r.Check.Evidence {
		ev[e.Key] = append(ev[e.Key], e.Value)
	}
	if !strings.Contains(strings.Join(ev["volume_capture"], "|"), "demo_esdata (index): excluded: rebuilt from the database") ||
		!strings.Contains(strings.Join(ev["service"], "|"), "app: depends on worker") || ev["stop_order"][0] != "demo_app_1" {
		t.Errorf("evidence %v", ev)
	}
	o.StopApps = []string{"nope"}
	_, rs = pcRun(t, o)
	if r := rs[precheck.NameCompose]; r.Check.Status != check.Fail || !errors.Is(r.Err, sentinel.ErrInvalidSpec) {
		t.Fatalf("unknown stop-app: %+v %v", r.Check, r.Err)
	}
}

func TestComposeCheckStrictAndLabels(t *testing.T) {
	o := cpOptions(t, cpNoIndexVolume)
	o.BindLimit = 3 // the config file has 6 bytes
	o.Strict = true
	_, rs := pcRun(t, o)
	r := rs[precheck.NameCompose]
	if r.Check.Status != check.Fail || r.Check.Code != "bind_uncaptured" || !strings.Contains(r.Err.Error(), "app.ini") || !strings.Contains(r.Err.Error(), "too_large") {
		t.Fatalf("strict: %+v %v", r.Check, r.Err)
	}
	o.Strict = false
	_, rs = pcRun(t, o)
	if r := rs[precheck.NameCompose]; r.Check.Status != check.OK {
		t.Fatalf("not strict: %+v %v", r.Check, r.Err)
	}
	if st := rs[precheck.NameStack].Check; st.Status != check.Warn {
		t.Fatalf("stack: %+v", st)
	}
	// A label that cannot be used fails, in the caller's language; a dump
	// needs a running container.
	o, eng := cpOptionsEngine(t, cpNoIndexVolume)
	o.Lang = i18n.Chinese
	eng.Stack.Containers[0].Labels["dockpack.hook-timeout"] = "soon"
	eng.Stack.Containers[1].Labels["dockpack.dump"] = "/testapp db-dump /data"
	_, rs = pcRun(t, o)
	r = rs[precheck.NameCompose]
	if r.Check.Status != check.Fail || r.Check.Code != "label_invalid" || !errors.Is(r.Err, sentinel.ErrInvalidSpec) ||
		!strings.Contains(r.Err.Error(), "dockpack.hook-timeout") || !strings.Contains(r.Err.Error(), "dump (dockpack.dump) but no running container") ||
		!strings.Contains(r.Check.Summary, "标签") {
		t.Fatalf("labels: %+v %v", r.Check, r.Err)
	}
}

// cpNoIndexVolume is cpCompose without the index service's volume.
var cpNoIndexVolume = strings.Replace(cpCompose, "    image: demo/index:1\n    volumes:\n      - esdata:/es\n", "    image: demo/index:1\n", 1)

// TestEstimateLeavesOutVolumesNotExported: a volume excluded by its
// service (or covered by its dump) is not written, so not in the estimate
// the space checks use (a large excluded index volume needs no room).
func TestEstimateLeavesOutVolumesNotExported(t *testing.T) {
	o, eng := cpOptionsEngine(t, strings.Replace(cpCompose, "  index:\n    image: demo/index:1\n    volumes:\n      - esdata:/es\n", "", 1))
	c, _ := pcRun(t, o)
	all := c.Facts.Estimate.Volumes
	eng.Stack.Containers[0].Labels = map[string]string{"dockpack.volumes": "exclude"}
	c, rs := pcRun(t, o)
	if r := rs[precheck.NameCompose]; r.Err != nil {
		t.Fatalf("compose check %+v: %v", r.Check, r.Err)
	}
	e := c.Facts.Estimate
	if e.Volumes != all-300 || e.VolumeSizes["demo_data"] != 300 {
		t.Fatalf("estimate of the volumes %d (with demo_data %d), sizes %v", e.Volumes, all, e.VolumeSizes)
	}
}
