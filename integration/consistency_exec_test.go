//go:build integration

package integration_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// TestExecOnRealEngine: dockerapi.Exec demultiplexes stdout and stderr,
// reports the exit code, feeds stdin, refuses a stopped container, and
// kills a command (with its child) at its timeout.
func TestExecOnRealEngine(t *testing.T) {
	cli := dockertest.MustClient(t)
	eng := MustEngine(t)
	img := "dockpack-test/" + strings.ToLower(dockertest.Unique("exec")) + ":1"
	dockertest.MustTestAppImage(t, cli, img)
	id := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Image: img, Start: true,
		Mounts: []dockertest.Mount{{Type: "tmpfs", Target: "/data"}}})

	res, err := eng.Exec(MustCtx(t), dockerapi.ExecOptions{Container: id, Cmd: []string{"/testapp", "say", "hello", "world"}})
	if err != nil || res.ExitCode != 0 || res.StdoutTail != "hello world\n" || res.StderrTail != "stderr: hello world\n" {
		t.Fatalf("say: %+v %v", res, err)
	}
	res, err = eng.Exec(MustCtx(t), dockerapi.ExecOptions{Container: id, Cmd: []string{"/testapp", "fail", "3", "broken", "on", "purpose"}})
	if err != nil || res.ExitCode != 3 || !strings.Contains(res.StderrTail, "broken on purpose") {
		t.Fatalf("fail: %+v %v", res, err)
	}
	// stdin in, stdout out: a dump loaded and dumped again.
	dump := "testapp-db 1\nrows 1\n1 first\nsha256 " + sha256Hex("1 first\n") + "\n"
	res, err = eng.Exec(MustCtx(t), dockerapi.ExecOptions{Container: id, Cmd: []string{"/testapp", "db-load", "/data"}, Stdin: strings.NewReader(dump)})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("db-load: %+v %v", res, err)
	}
	var out bytes.Buffer
	res, err = eng.Exec(MustCtx(t), dockerapi.ExecOptions{Container: id, Cmd: []string{"/testapp", "db-dump", "/data"}, Stdout: &out, Tail: 8})
	if err != nil || res.ExitCode != 0 || out.String() != dump || res.StdoutBytes != int64(len(dump)) || len(res.StdoutTail) != 8 {
		t.Fatalf("db-dump: %+v %v\n%s", res, err, out.String())
	}

	// A hanging command (which ignores SIGTERM and has a child) is killed at its timeout.
	t0 := time.Now()
	res, err = eng.Exec(MustCtx(t), dockerapi.ExecOptions{Container: id, Cmd: []string{"/testapp", "hang", "child"}, Timeout: 1500 * time.Millisecond})
	if !errors.Is(err, dockerapi.ErrExecTimeout) || !res.TimedOut || !res.Killed || time.Since(t0) > 15*time.Second {
		t.Fatalf("hang: %+v %v after %v", res, err, time.Since(t0))
	}
	t.Logf("hang: %s", res.KillNote)
	top, terr := cli.ContainerTop(MustCtx(t), id, nil)
	if terr != nil {
		t.Fatal(terr)
	}
	for _, p := range top.Processes {
		if strings.Contains(strings.Join(p, " "), "hang") {
			t.Errorf("a hang process survived its timeout: %v", p)
		}
	}

	// A stopped container is refused.
	dockertest.StopContainer(t, cli, id)
	if _, err := eng.Exec(MustCtx(t), dockerapi.ExecOptions{Container: id, Cmd: []string{"/testapp", "true"}}); !errors.Is(err, dockerapi.ErrContainerNotRunning) {
		t.Fatalf("exec in a stopped container: %v", err)
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
