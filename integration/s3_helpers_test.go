//go:build integration

package integration_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
)

// S3 test helpers: versitygw (make s3-server) through s3test, on a plain
// temporary directory or on a small tmpfs (a full disk behind the server).

// MustS3 starts versitygw on a temporary directory (stopped in t.Cleanup).
func MustS3(t testing.TB) *s3test.Server {
	t.Helper()
	return s3test.Start(t)
}

// MustS3OnTmpfs starts versitygw serving a tmpfs of sizeBytes.
func MustS3OnTmpfs(t testing.TB, sizeBytes int64) *s3test.Server {
	t.Helper()
	return s3test.StartIn(t, MustTmpfs(t, sizeBytes))
}

// S3Env is the environment that points the AWS SDK (and so dockpack) at srv.
func S3Env(srv *s3test.Server) []string {
	return []string{"AWS_ENDPOINT_URL=" + srv.Endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=" + srv.Access,
		"AWS_SECRET_ACCESS_KEY=" + srv.Secret, "AWS_EC2_METADATA_DISABLED=true"}
}

var leaseBuild struct {
	once sync.Once
	path string
	err  error
}

// leaseBinary builds integration/testdata/s3lease once per test process.
func leaseBinary(t testing.TB) string {
	t.Helper()
	leaseBuild.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		out := filepath.Join(os.TempDir(), fmt.Sprintf("dockpack-test-s3lease-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", out, "./integration/testdata/s3lease")
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			leaseBuild.err = fmt.Errorf("go build s3lease: %v\n%s", err, msg)
			return
		}
		leaseBuild.path = out
	})
	if leaseBuild.err != nil {
		t.Fatal(leaseBuild.err)
	}
	return leaseBuild.path
}

// startLeaseHolder runs s3lease as another process (another host when
// host is set) holding the store's exclusive lease with ttl; it returns
// once the lease is held, and kill -9 kills it.
func startLeaseHolder(t *testing.T, srv *s3test.Server, bucket, prefix string, mode s3.Exclusive, host string, ttl time.Duration) (kill func()) {
	t.Helper()
	cmd := exec.Command(leaseBinary(t))
	cmd.Env = append(os.Environ(), "LEASE_BUCKET="+bucket, "LEASE_PREFIX="+prefix, "LEASE_ENDPOINT="+srv.Endpoint,
		"LEASE_ACCESS="+srv.Access, "LEASE_SECRET="+srv.Secret, "LEASE_EXCLUSIVE="+string(mode), "LEASE_HOST="+host,
		fmt.Sprintf("LEASE_TTL_MS=%d", ttl.Milliseconds()))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	t.Cleanup(kill)
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "held" {
		t.Fatalf("the other process did not take the lease: %q", line)
	}
	return kill
}
