//go:build integration

package integration_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// csBindsCompose: app (started) has a named volume, a small config file
// and a large directory bind-mounted; index (never started: compose up -d
// app) mounts an external volume (ESDATA) that no container of the
// project mounts and that does not carry the project's label — the volume
// a backup by label would silently miss. INDEXLABELS adds labels to index.
const csBindsCompose = `version: "2.4"
services:
  app:
    image: IMAGE
    command: ["sleep"]
    network_mode: none
    volumes:
      - data:/data
      - ./conf/app.ini:/etc/app.ini:ro
      - ./big:/big
    labels:
TESTLABELS
  index:
    image: IMAGE
    command: ["sleep"]
    network_mode: none
    volumes:
      - esdata:/es
    labels:
INDEXLABELS
TESTLABELS
  debug:
    image: IMAGE
    command: ["sleep"]
    network_mode: none
    profiles: ["debug"]
    volumes:
      - dbg:/dbg
    labels:
TESTLABELS
volumes:
  data:
    labels:
TESTLABELS
  dbg:
    labels:
TESTLABELS
  esdata:
    external: true
    name: ESDATA
`

// TestConsistencyCompleteness: a named volume of the compose model that
// the pack would miss fails plan (and backup) naming it, unless its service
// excludes it (the doctor fails the same way); a small bind-mounted config
// file is captured under binds/ and restored on request; a bind mount over
// the size bound is a warning, and a failure with --strict. A service of a
// profile (debug) counts, and its profile is recorded, once it runs.
func TestConsistencyCompleteness(t *testing.T) {
	esdata := strings.ToLower(dockertest.Unique("cs-esdata"))
	dockertest.MustVolume(t, dockertest.MustClient(t), esdata, nil)
	base := strings.ReplaceAll(csBindsCompose, "ESDATA", esdata)
	s := csPrepare(t, strings.Replace(base, "INDEXLABELS\n", "", 1))
	// The files bind-mounted, written before compose up (it would create directories).
	os.MkdirAll(filepath.Join(s.dir, "conf"), 0o755)
	os.WriteFile(filepath.Join(s.dir, "conf", "app.ini"), []byte("[app]\nname=bound\n"), 0o644)
	os.MkdirAll(filepath.Join(s.dir, "big"), 0o755)
	os.WriteFile(filepath.Join(s.dir, "big", "blob"), make([]byte, 2<<20), 0o644)
	s.compose("up", "-d", "app")
	t.Cleanup(func() { // compose v1's down leaves the containers of a profile it is not given
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rsComposeQuiet(ctx, s.dir, s.project, "--profile", "debug", "rm", "-fsv", "debug"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	spec := s.spec(64 << 20)
	spec.BindLimit = 1 << 20

	// 1. The index service's volume is in the model and on the engine, not in the pack: refused, named.
	plan, err := backup.Plan(MustCtx(t), spec)
	if !errors.Is(err, backup.ErrPrecheck) || backup.ErrorCode(err) != "pack_incomplete" ||
		!strings.Contains(err.Error(), esdata) {
		t.Fatalf("plan: %v", err)
	}
	if c := csCheck(t, plan, "compose"); c.Status != check.Fail || c.Code != "volume_missed" || !strings.Contains(c.Summary, esdata) {
		t.Fatalf("compose check %+v", c)
	}
	if _, err := backup.Run(MustCtx(t), spec, nil); backup.ErrorCode(err) != "pack_incomplete" {
		t.Fatalf("backup: %v", err)
	}
	if code, out, errb := rsCLI(t, "plan", "--project", s.project, "--target", spec.Target, "--fstype", "tmpfs", "--no-images", "--log-level", "warn"); code != 3 ||
		!strings.Contains(out+errb, esdata) {
		t.Fatalf("dockpack plan: exit %d\n%s%s", code, out, errb)
	}
	rep, code := opDoctor(t, nil, "--project", s.project, "--target", spec.Target, "--fstype", "tmpfs", "--no-images", "--staging-dir", t.TempDir())
	if dc, ok := rep.Check(doctor.CheckCompose); code != 1 || !ok || dc.Status != check.Fail || dc.Code != "volume_missed" || !strings.Contains(dc.Summary, esdata) {
		t.Fatalf("dockpack doctor: exit %d, compose check %+v", code, dc)
	}

	// 2. Excluded by its service's label: the plan passes; the big bind is a warning.
	s.write(strings.Replace(base, "INDEXLABELS\n", "      dockpack.volumes: exclude\n      dockpack.exclude-reason: rebuilt from the database\n", 1))
	plan, err = backup.Plan(MustCtx(t), spec)
	if err != nil {
		t.Fatalf("plan with the volume excluded: %v", err)
	}
	if c := csCheck(t, plan, "stack"); c.Status != check.Warn || !strings.Contains(csEv(c, "bind_mounts"), "/big") {
		t.Errorf("stack check %+v", c)
	}
	if c := csCheck(t, plan, "compose"); c.Status != check.OK || !strings.Contains(csEv(c, "volume_capture"), esdata+" (index): excluded: rebuilt from the database") ||
		csEv(c, "profiles") != "" || strings.Contains(csEv(c, "volume_capture"), "(debug)") {
		t.Errorf("compose check (the debug profile not in use) %+v", c)
	}

	// 3. --strict: the big bind fails.
	strict := spec
	strict.Strict = true
	if _, err := backup.Plan(MustCtx(t), strict); backup.ErrorCode(err) != "pack_incomplete" || !strings.Contains(err.Error(), filepath.Join(s.dir, "big")) {
		t.Fatalf("strict plan: %v", err)
	}

	// 4. The debug profile in use; the backup captures the config file (restored on request).
	s.compose("--profile", "debug", "up", "-d", "debug")
	res, err := backup.Run(MustCtx(t), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	c := m.Consistency
	if len(c.Binds) != 1 || c.Binds[0].Destination != "/etc/app.ini" || c.Binds[0].Type != pack.BindFile || c.Binds[0].File != "binds/app/etc_app.ini.tar" ||
		!c.Binds[0].ReadOnly {
		t.Fatalf("binds %+v", c.Binds)
	}
	var skippedBig bool
	for _, sk := range m.Skipped {
		skippedBig = skippedBig || (sk.Kind == "bind" && sk.Destination == "/big")
		if sk.Destination == "/etc/app.ini" {
			t.Errorf("the captured bind is listed as skipped: %+v", sk)
		}
	}
	if !skippedBig {
		t.Errorf("the big bind is not listed as skipped: %+v", m.Skipped)
	}
	if v := csVolume(t, m, "index", esdata); v.Capture != pack.CaptureExcluded || v.Reason != "rebuilt from the database" {
		t.Errorf("esdata %+v", v)
	}
	if v := csVolume(t, m, "app", s.project+"_data"); v.Capture != pack.CaptureVolume || v.File != "volumes/"+s.project+"_data.tar" {
		t.Errorf("data %+v", v)
	}
	if v := csVolume(t, m, "debug", s.project+"_dbg"); v.Capture != pack.CaptureVolume || strings.Join(c.Profiles, ",") != "debug" ||
		!slices.Equal(csService(t, m, "debug").Profiles, []string{"debug"}) {
		t.Errorf("profiles %v, dbg %+v", c.Profiles, v)
	}
	root := t.TempDir()
	rr, err := restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: MustEngine(t), BindsRoot: root, Components: []pack.Component{pack.ComponentVolumes},
		Force: true, StopRunning: true, StagingDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, s.dir, "conf", "app.ini"))
	if err != nil || string(got) != "[app]\nname=bound\n" || len(rr.Plan.Binds) != 1 {
		t.Fatalf("restored bind %q %v (plan %+v)", got, err, rr.Plan.Binds)
	}
	// To its own path, after it was lost.
	os.Remove(filepath.Join(s.dir, "conf", "app.ini"))
	if code, out, errb := rsCLI(t, "restore", res.Pack, "--components", "volumes", "--binds", "--force", "--stop-running", "--log-level", "warn"); code != 0 {
		t.Fatalf("restore --binds: exit %d\n%s%s", code, out, errb)
	}
	if got, err := os.ReadFile(filepath.Join(s.dir, "conf", "app.ini")); err != nil || string(got) != "[app]\nname=bound\n" {
		t.Fatalf("restored to its path: %q %v", got, err)
	}
}

func csCheck(t *testing.T, p *backup.PackPlan, name string) check.Check {
	t.Helper()
	for _, c := range p.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, p.Checks)
	return check.Check{}
}

func csEv(c check.Check, key string) string {
	var out []string
	for _, e := range c.Evidence {
		if e.Key == key {
			out = append(out, e.Value)
		}
	}
	return strings.Join(out, "; ")
}

func csVolume(t *testing.T, m *pack.Manifest, service, name string) pack.ServiceVolume {
	t.Helper()
	for _, v := range csService(t, m, service).Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("service %s has no volume %s", service, name)
	return pack.ServiceVolume{}
}
