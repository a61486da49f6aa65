package backup_test

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
)

func TestProcAliveTreatsZombieAsDead(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start := backup.ProcStartOf(pid)
	if start == "" || !backup.ProcAlive(pid, start) {
		t.Fatalf("a running child is not alive: start %q", start)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	// Not reaped yet: /proc/<pid> stays, in state Z. Poll until the kill lands.
	deadline := time.Now().Add(5 * time.Second)
	for backup.ProcAlive(pid, start) {
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped child still counts as alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
