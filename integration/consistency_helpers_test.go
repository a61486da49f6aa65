//go:build integration

package integration_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// The consistency tests run real compose v1 stacks (docker-compose up) of
// the test app image: its small database (testapp db …) writes two files
// that must agree every 10 ms; hooks run its say/note/fail/hang commands.
// Every service and volume carries dockpack.test=1 and this process's owner
// label, and `docker-compose down -v` runs in t.Cleanup.

// csStack is one compose project in a directory of its own.
type csStack struct {
	t       *testing.T
	cli     *dockertest.Client
	project string
	image   string
	dir     string
}

// csLabels are the test labels, indented for a service's or volume's labels: block.
func csLabels(indent string) string {
	return indent + "dockpack.test: \"1\"\n" + indent + "dockpack.test.owner: \"" + dockertest.Owner + "\"\n"
}

// csNewStack writes the compose file (IMAGE and TESTLABELS replaced: the
// test app image, the test labels at 6 spaces) and brings the stack up
// (services: all when none is given).
func csNewStack(t *testing.T, compose string, services ...string) *csStack {
	t.Helper()
	s := csPrepare(t, compose)
	s.compose(append([]string{"up", "-d"}, services...)...)
	return s
}

// csPrepare is csNewStack without the compose up.
func csPrepare(t *testing.T, compose string) *csStack {
	t.Helper()
	cli := dockertest.MustClient(t)
	s := &csStack{t: t, cli: cli, project: strings.ReplaceAll(dockertest.Unique("cs"), "-", ""), dir: t.TempDir()}
	s.image = "dockpack-test/" + s.project + "-app:1"
	dockertest.MustTestAppImage(t, cli, s.image)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := rsComposeQuiet(ctx, s.dir, s.project, "down", "-v", "--timeout", "1"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	s.write(compose)
	return s
}

// write (re)writes the compose file.
func (s *csStack) write(compose string) {
	s.t.Helper()
	compose = strings.ReplaceAll(compose, "IMAGE", s.image)
	compose = strings.ReplaceAll(compose, "TESTLABELS\n", csLabels("      "))
	if err := os.WriteFile(filepath.Join(s.dir, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *csStack) compose(args ...string) string {
	s.t.Helper()
	return rsCompose(s.t, s.dir, s.project, args...)
}

// id is the container of a service (compose v1 names it <project>_<service>_1).
func (s *csStack) id(service string) string {
	s.t.Helper()
	return rsContainerOf(s.t, s.cli, s.project, service)
}

// spec is a backup of the stack into a fresh tmpfs (volumes and images).
func (s *csStack) spec(size int64) backup.Spec {
	s.t.Helper()
	return backup.Spec{Engine: MustEngine(s.t), Project: s.project, Target: MustTmpfs(s.t, size), Policy: tmpfsPolicy,
		StagingDir: s.t.TempDir(), Components: []pack.Component{pack.ComponentVolumes, pack.ComponentImages}}
}

// exec runs the test app in a service's container and returns its stdout.
func (s *csStack) exec(service string, args ...string) string {
	s.t.Helper()
	res, err := MustEngine(s.t).Exec(MustCtx(s.t), dockerapi.ExecOptions{Container: s.id(service), Cmd: append([]string{"/testapp"}, args...), Tail: 1 << 20})
	if err != nil || res.ExitCode != 0 {
		s.t.Fatalf("exec %v in %s: %+v %v", args, service, res, err)
	}
	return res.StdoutTail
}

// state is a container's start time and restart count.
func (s *csStack) state(service string) (startedAt string, restarts int, running bool) {
	s.t.Helper()
	ci, err := s.cli.ContainerInspect(MustCtx(s.t), s.id(service))
	if err != nil {
		s.t.Fatal(err)
	}
	return ci.State.StartedAt, ci.RestartCount, ci.State.Running
}

// waitRows waits until the service's database holds at least n rows.
func (s *csStack) waitRows(service string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, _ := csDumpRows(s.t, s.exec(service, "db-dump", "/data"))
		if rows >= n {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %d rows after 30s, want %d", service, rows, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// csDumpRows checks a testapp-db dump (count and checksum agree) and
// returns its row count.
func csDumpRows(t testing.TB, dump string) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(dump))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 3 || lines[0] != "testapp-db 1" {
		return 0, fmt.Errorf("not a dump: %q", dump)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(lines[1], "rows "))
	if err != nil || len(lines) != n+3 {
		return 0, fmt.Errorf("dump of %d lines announces %q", len(lines), lines[1])
	}
	h := sha256.New()
	for _, r := range lines[2 : 2+n] {
		h.Write([]byte(r + "\n"))
	}
	if lines[n+2] != "sha256 "+hex.EncodeToString(h.Sum(nil)) {
		return n, fmt.Errorf("dump checksum differs")
	}
	return n, nil
}

// csEvents lists the die and start events of the containers from since
// to now: "die <name>" / "start <name>" in the engine's order, with times.
type csEvent struct {
	action, name string
	at           time.Time
}

func csEvents(t *testing.T, cli *dockertest.Client, since time.Time, ids ...string) []csEvent {
	t.Helper()
	f := filters.NewArgs(filters.Arg("type", "container"), filters.Arg("event", "die"), filters.Arg("event", "start"))
	for _, id := range ids {
		f.Add("container", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, errs := cli.Events(ctx, events.ListOptions{Since: strconv.FormatInt(since.Unix(), 10), Until: strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10), Filters: f})
	var out []csEvent
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return out
			}
			if at := time.Unix(0, m.TimeNano); !at.Before(since) {
				out = append(out, csEvent{action: string(m.Action), name: m.Actor.Attributes["name"], at: at})
			}
		case err := <-errs:
			if err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "EOF") {
				t.Fatalf("events: %v", err)
			}
			return out
		}
	}
}

// csService is a service's entry in a pack's consistency section.
func csService(t *testing.T, m *pack.Manifest, name string) pack.ServiceEntry {
	t.Helper()
	if m.Consistency == nil {
		t.Fatal("the manifest has no consistency section")
	}
	for _, s := range m.Consistency.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %s in %+v", name, m.Consistency.Services)
	return pack.ServiceEntry{}
}
