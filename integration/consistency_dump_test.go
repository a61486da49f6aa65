//go:build integration

package integration_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
)

// csDumpCompose: a database writing continuously, dumped through exec, its
// volume excluded (the dump is the source of truth).
const csDumpCompose = `version: "2.4"
services:
  db:
    image: IMAGE
    command: ["db", "/data"]
    network_mode: none
    volumes:
      - dbdata:/data
    labels:
      dockpack.dump: "/testapp db-dump /data"
      dockpack.dump-ext: "txt"
      dockpack.restore-dump: "/testapp db-load /data"
      dockpack.volumes: "exclude"
      dockpack.pre-backup: "/testapp say pre db"
      dockpack.post-backup: "/testapp say post db"
TESTLABELS
volumes:
  dbdata:
    labels:
TESTLABELS
`

// TestConsistencyDumpWhileRunning: the backup of a writer service with a
// dump and its volume excluded completes while the service keeps running
// (same StartedAt, 0 restarts); the dump is in the pack and consistent;
// after `down -v`, restore (which prints the next step), `up -d` and
// `restore --dumps`, the service's logical state equals the dump's. Its
// pre and post hooks are recorded beside the dump. A dump that exits
// non-zero or writes nothing fails the backup naming the service.
func TestConsistencyDumpWhileRunning(t *testing.T) {
	s := csNewStack(t, csDumpCompose)
	s.waitRows("db", 30)
	started, restarts, _ := s.state("db")
	since := time.Now()

	res, err := backup.Run(MustCtx(t), s.spec(64<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	startedAfter, restartsAfter, running := s.state("db")
	if !running || startedAfter != started || restartsAfter != restarts || restarts != 0 {
		t.Fatalf("the service was disturbed: running %v, started %s → %s, restarts %d → %d", running, started, startedAfter, restarts, restartsAfter)
	}
	if ev := csEvents(t, s.cli, since, s.id("db")); len(ev) != 0 {
		t.Fatalf("the service stopped or started during the backup: %+v", ev)
	}
	m := res.Manifest
	dump, err := os.ReadFile(filepath.Join(res.Pack, "dumps", "db.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csDumpRows(t, string(dump))
	if err != nil || rows < 30 {
		t.Fatalf("the dump in the pack: %d rows, %v", rows, err)
	}
	for _, f := range m.Files {
		if f.Kind == pack.FileVolume && strings.Contains(f.Path, "dbdata") {
			t.Fatalf("the excluded volume was exported: %+v", f)
		}
	}
	db := csService(t, m, "db")
	if db.Dump == nil || db.Dump.File != "dumps/db.txt" || db.Dump.Size != int64(len(dump)) || len(db.Volumes) != 1 ||
		db.Volumes[0].Capture != pack.CaptureDump || db.Volumes[0].File != "dumps/db.txt" || db.Stopped {
		t.Fatalf("db in the manifest: %+v", db)
	}
	if len(db.Hooks) != 2 || db.Hooks[0].StdoutTail != "pre db\n" || db.Hooks[1].StdoutTail != "post db\n" || db.Hooks[0].Status != pack.HookOK {
		t.Fatalf("db's hooks in the manifest: %+v", db.Hooks)
	}
	t.Logf("dump of %d rows (%d bytes) in %d ms while the writer ran; downtime 0", rows, len(dump), db.Dump.DurationMS)
	if section, err := json.MarshalIndent(m.Consistency, "", "  "); err == nil {
		t.Logf("the manifest's consistency section (hooks and a dump):\n%s", section)
	}
	if code, out, errb := rsCLI(t, "verify", res.Pack, "--log-level", "warn"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := rsCLI(t, "show", res.Pack); code != 0 || !strings.Contains(out, s.project+"_dbdata → covered by the dump dumps/db.txt") ||
		!strings.Contains(out, "pre-backup ok (exit 0") || !strings.Contains(out, "post-backup ok (exit 0") {
		t.Fatalf("show: exit %d\n%s%s", code, out, errb)
	}

	// Bring it back: the stack removed with its volume, the pack restored,
	// the stack started (a fresh, empty volume), then the dump loaded.
	s.compose("down", "-v", "--timeout", "1")
	code, out, errb := rsCLI(t, "restore", res.Pack, "--log-level", "warn")
	if code != 0 || !strings.Contains(out, "restore "+res.Pack+" --dumps") {
		t.Fatalf("restore: exit %d, the next step not printed:\n%s%s", code, out, errb)
	}
	s.compose("up", "-d")
	s.exec("db", "db-pause", "/data") // the new server writes nothing from here
	code, out, errb = rsCLI(t, "restore", res.Pack, "--dumps", "--log-level", "warn")
	if code != 0 || !strings.Contains(out, "dumps/db.txt") {
		t.Fatalf("restore --dumps: exit %d\n%s%s", code, out, errb)
	}
	if got := s.exec("db", "db-dump", "/data"); got != string(dump) {
		t.Fatalf("the restored state differs from the dump:\n%.300s\nwant\n%.300s", got, dump)
	}
	s.exec("db", "db-check", "/data")

	// --dumps refuses while the service does not run, and changes nothing.
	s.compose("stop", "--timeout", "1", "db")
	code, out, errb = rsCLI(t, "restore", res.Pack, "--dumps", "--log-level", "warn")
	if code != 3 || !strings.Contains(out+errb, "db") || !strings.Contains(out+errb, "no running container") {
		t.Fatalf("restore --dumps of a stopped service: exit %d\n%s%s", code, out, errb)
	}

	// A dump that exits non-zero, or writes nothing, fails the backup naming
	// the service, and leaves nothing in the target.
	for _, tc := range []struct{ cmd, want string }{
		{"/testapp fail 5 no dump today", "exited with 5: testapp: no dump today"},
		{"/testapp true", "wrote nothing"},
	} {
		s.write(strings.Replace(csDumpCompose, "/testapp db-dump /data", tc.cmd, 1))
		s.compose("up", "-d")
		spec := s.spec(64 << 20)
		_, err := backup.Run(MustCtx(t), spec, nil)
		if !errors.Is(err, backup.ErrDumpFailed) || !strings.Contains(err.Error(), "service db") || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("dump %q: err = %v", tc.cmd, err)
		}
		if packs, partials := TargetDirs(t, spec.Target); len(packs)+len(partials) != 0 {
			t.Fatalf("dump %q: left %v %v", tc.cmd, packs, partials)
		}
		if _, _, running := s.state("db"); !running {
			t.Fatalf("dump %q: db does not run", tc.cmd)
		}
		t.Logf("dump %q: %v", tc.cmd, err)
	}
}
