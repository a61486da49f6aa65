//go:build integration

package integration_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

// runPeak runs cmd — a dockpack built with -tags dockpacktest, its Stdout
// and Stderr set by the caller — and returns its own peak RSS, which the
// process writes as it exits (testseams.EnvPeakFile: VmHWM of
// /proc/self/status). Not polled from here: polling /proc/<pid>/status
// every few ms cost this process ~150 ms of CPU per second of dockpack on
// the 2-core machine being measured, which the anchors (docker save/load)
// did not pay. Not rusage's Maxrss: os/exec starts a child vfork-style,
// sharing this test process's memory until the exec, and the kernel keeps
// that high-water mark as the child's.
func runPeak(cmd *exec.Cmd) (int64, error) {
	dir, err := os.MkdirTemp("", "dockpack-peak-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "peak")
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, testseams.EnvPeakFile+"="+file)
	if err := cmd.Run(); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("%s reported no peak RSS (a binary built without -tags dockpacktest?): %w", cmd.Path, err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}
