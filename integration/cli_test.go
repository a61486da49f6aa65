//go:build integration

package integration_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// SIGINT during `dockpack backup` cancels it: exit status 130, no partial
// pack left, the service it had stopped is running again.
func TestCLIBackupInterruptedBySIGINT(t *testing.T) {
	s := bkNewStack(t)
	bin := bkBuildDockpack(t)
	target := MustTmpfs(t, 256<<20)
	holdDir := t.TempDir()
	cmd := exec.Command(bin, "backup", "--project", s.project, "--target", target, "--fstype", "tmpfs",
		"--sqlite", MustSmallDB(t, ""), "--stop", "app", "--json")
	// The test seam holds the job in the volume step after its first write
	// (the service is stopped, a volume tar half written) and drops a marker.
	cmd.Env = append(os.Environ(), "DOCKPACK_TEST_HOLD_STEP=volumes", "DOCKPACK_TEST_HOLD_DIR="+holdDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	events := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
		close(events)
	}()
	marker := filepath.Join(holdDir, "held-volumes")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backup never reached the volume step")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if dockertest.Running(t, s.cli, s.app) {
		t.Fatal("app runs although the backup stopped it for its volume")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("dockpack backup after SIGINT: %v, want exit status 130", err)
	}
	var last map[string]any
	for ev := range events {
		last = ev
	}
	if last["event"] != "failed" || last["error_code"] != "canceled" || last["step"] != "volumes" {
		t.Fatalf("last event %v, want a failed event with error_code canceled in step volumes", last)
	}
	if !dockertest.Running(t, s.cli, s.app) {
		t.Error("app was not started again after the interrupt")
	}
	bkAssertNoPack(t, target)
}
