package owner_test

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/internal/owner"
)

func TestProcAliveTreatsZombieAsDead(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start := owner.ProcStartOf(pid)
	if start == "" || !owner.ProcAlive(pid, start) {
		t.Fatalf("a running child is not alive: start %q", start)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	// Not reaped yet: /proc/<pid> stays, in state Z. Poll until the kill lands.
	deadline := time.Now().Add(5 * time.Second)
	for owner.ProcAlive(pid, start) {
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped child still counts as alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLockParseStatStartTime(t *testing.T) {
	tests := []struct {
		stat, want string
		ok         bool
	}{
		{"1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 42 1000 10", "42", true},
		{"77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9999 1 1", "9999", true},
		{"garbage", "", false},
		{"1 (x) S 1 2 3", "", false},
		{"1 (x) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 notanumber 1", "", false},
	}
	for _, tc := range tests {
		got, err := owner.ParseStatStartTime(tc.stat)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parse %q = %q, %v; want %q ok=%v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzLockParseStatStartTime(f *testing.F) {
	f.Add("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 42 1000 10")
	f.Add("7 ()) ) R")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := owner.ParseStatStartTime(s)
		if err == nil && (got == "" || strings.ContainsAny(got, " )")) {
			t.Fatalf("accepted %q as start time of %q", got, s)
		}
	})
}
