//go:build integration

package integration_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// runPeak runs cmd (its Stdout and Stderr set by the caller) and returns
// its own peak RSS: VmHWM of /proc/<pid>/status, polled every 5 ms until
// it exits. Not rusage's Maxrss: os/exec starts a child vfork-style,
// sharing this test process's memory until the exec, and the kernel keeps
// that high-water mark as the child's — every figure would have the test
// process's RSS (88–124 MiB after a benchmark's anchor) as its floor.
func runPeak(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var hwm atomic.Int64
	done, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			data, _ := os.ReadFile(status)
			for _, l := range strings.Split(string(data), "\n") {
				var kb int64
				if _, err := fmt.Sscanf(l, "VmHWM: %d kB", &kb); err == nil && kb<<10 > hwm.Load() {
					hwm.Store(kb << 10)
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-polled
	return hwm.Load(), err
}
