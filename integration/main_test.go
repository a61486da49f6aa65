//go:build integration

package integration_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// mountPrefix names every directory a test mounts something on, so TestMain
// can find and unmount leftovers.
const mountPrefix = "dockpack-test-"

func TestMain(m *testing.M) {
	if err := sweep(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: sweep before tests:", err)
		os.Exit(2)
	}
	code := m.Run()
	if err := sweep(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: sweep after tests:", err)
		if code == 0 {
			code = 2
		}
	}
	os.Exit(code)
}

func sweep() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sweepMounts()
	cli, err := dockertest.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("the Docker Engine is not reachable (%v); integration tests need it", err)
	}
	return dockertest.Sweep(ctx, cli)
}

// sweepMounts lazily unmounts, deepest first, every mount on a
// dockpack-test-<pid>-* directory whose test process (pid) is this one or has
// ended: a test process running at the same time keeps its mounts.
func sweepMounts() {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.Contains(fields[4], mountPrefix) && mountOwnerGone(fields[4]) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// mountOwnerGone reads the pid in ".../dockpack-test-<pid>-..." and reports
// whether that process is this one or no longer exists.
func mountOwnerGone(point string) bool {
	rest := point[strings.LastIndex(point, mountPrefix)+len(mountPrefix):]
	pidText, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid == os.Getpid() {
		return true
	}
	_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err != nil
}
