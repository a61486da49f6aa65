//go:build integration

package integration_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
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

// sweepMounts lazily unmounts every mount whose mount point contains
// mountPrefix, deepest first.
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
		if len(fields) > 4 && strings.Contains(fields[4], mountPrefix) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
