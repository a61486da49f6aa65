//go:build integration

package integration_test

import (
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

// TestFaultsStoreKill kills a store backup (`dockpack backup` with
// DOCKPACK_PACK_FORMAT=store) with SIGKILL at every step boundary and
// inside the streaming steps, and a prune at several instants of its
// deletions and garbage collection; after each: the next run recovers
// unattended and completes, nothing is left behind (partials, owner
// records, helpers, staged copies, uploads of the dead writer), and every
// pack in the target verifies in full (no pack references missing data).
func TestFaultsStoreKill(t *testing.T) {
	s := fxNewStack(t)
	storeEnv := []string{"DOCKPACK_PACK_FORMAT=store"}
	holds := []string{"precheck", "sqlite", "volumes@start", "volumes", "images@start", "images", "compose", "manifest", "finalize", testseams.HoldCommitted}
	for _, h := range holds {
		t.Run("cli/"+h, func(t *testing.T) {
			p := killPoint{driver: "cli", hold: h}
			holdDir := t.TempDir()
			proc := s.startCLI(t, append(storeEnv, p.seamEnv(holdDir, nil)...)...)
			if !waitFile(t, filepath.Join(holdDir, "held-"+p.heldStep()), proc, 60*time.Second) {
				t.Fatalf("the store backup did not reach %s:\n%s", h, proc.output())
			}
			proc.kill9()
			next := s.startCLI(t, storeEnv...)
			if code := next.wait(t, 3*time.Minute); code != 0 {
				t.Fatalf("the next store backup exited %d:\n%s", code, next.output())
			}
			if d := s.debrisNow(t); !d.empty() {
				t.Errorf("left after recovery: %s", d)
			}
			if up := stUploads(s.target); len(up) > 0 {
				t.Errorf("uploads of the dead writer left in the store: %v", up)
			}
			s.verifyAll(t)
		})
	}
	for i, delay := range []time.Duration{0, 30 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond} {
		t.Run("prune/"+delay.String(), func(t *testing.T) {
			for j := 0; j < 2; j++ { // something to prune
				if code := s.startCLI(t, storeEnv...).wait(t, 3*time.Minute); code != 0 {
					t.Fatalf("backup %d exited %d", j, code)
				}
			}
			args := []string{"prune", "--target", s.target, "--project", s.project, "--keep", "1", "--lock-wait", "30s"}
			proc := s.startCmd(t, args...)
			time.Sleep(delay)
			proc.kill9()
			if code, out, errOut := rsCLI(t, args...); code != 0 {
				t.Fatalf("the next prune (after kill %d) exited %d:\n%s%s", i, code, out, errOut)
			}
			s.verified = map[string]bool{}
			s.verifyAll(t)
			if code := s.startCLI(t, storeEnv...).wait(t, 3*time.Minute); code != 0 {
				t.Fatal("the next backup after a killed prune failed")
			}
			s.verifyAll(t)
		})
	}
}

// stUploads lists the temporary uploads in a target's store.
func stUploads(target string) []string {
	var out []string
	filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), local.TempPrefix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// startCmd starts dockpack with args (not a backup: prune, verify).
func (s *fxStack) startCmd(t *testing.T, args ...string) *fxProc {
	t.Helper()
	cmd := exec.Command(dmBinary(t), args...)
	p := &fxProc{cmd: cmd, out: &strings.Builder{}, done: make(chan struct{})}
	w := &lockedWriter{mu: &p.mu, w: p.out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.pids = append(s.pids, cmd.Process.Pid)
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	return p
}
