// Package s3test runs a real S3-compatible server for tests: versitygw
// (Apache-2.0) on a loopback port, serving a posix directory in which each
// subdirectory is a bucket. `make s3-server` installs it into bin/tools
// (versitygw-<version>) and `make test` exports its path as
// DOCKPACK_VERSITYGW; a test that needs it and finds none skips — or, with
// DOCKPACK_REQUIRE_S3=1 (set by make) or CI set, fails.
//
// Test support: imported by tests only.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage/s3"
)

// Server is one versitygw process.
type Server struct {
	// Endpoint is "http://127.0.0.1:PORT".
	Endpoint string
	// Access and Secret are its root credentials.
	Access, Secret string
	// Dir is its posix root: Dir/BUCKET is a bucket.
	Dir string

	bin  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Binary finds the versitygw binary: $DOCKPACK_VERSITYGW, else the newest
// bin/tools/versitygw-* above the working directory.
func Binary() (string, bool) {
	if p := os.Getenv("DOCKPACK_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	dir, _ := os.Getwd()
	for dir != "" {
		if m, _ := filepath.Glob(filepath.Join(dir, "bin", "tools", "versitygw-*")); len(m) > 0 {
			return m[len(m)-1], true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", false
}

// Required reports whether a missing server fails the test rather than
// skipping it.
func Required() bool {
	return os.Getenv("DOCKPACK_REQUIRE_S3") == "1" || os.Getenv("CI") != ""
}

// Start starts a server on a fresh temporary directory; t.Cleanup stops it.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn starts a server serving dir (which must exist).
func StartIn(t testing.TB, dir string) *Server {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		if Required() {
			t.Fatal("versitygw not found: run `make s3-server` (or set DOCKPACK_VERSITYGW)")
		}
		t.Skip("versitygw not found: run `make s3-server` to run the object storage tests")
	}
	s := &Server{Access: "AKIA" + strings.ToUpper(token(8)), Secret: token(20), Dir: dir, bin: bin}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.addr = "" // a fresh port each attempt
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting versitygw: %v", err)
	}
	t.Cleanup(s.Kill)
	return s
}

func token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:2*n]
}

// start starts the process, on the same address as before if it ran already.
func (s *Server) start() error {
	if s.addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		s.addr = l.Addr().String()
		l.Close()
	}
	log, err := os.CreateTemp("", "versitygw-*.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "--port", s.addr, "--access", s.Access, "--secret", s.Secret, "--quiet", "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	s.cmd, s.log, s.done = cmd, log, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	s.Endpoint = "http://" + s.addr
	if err := s.waitReady(10 * time.Second); err != nil {
		out, _ := os.ReadFile(log.Name())
		s.Kill()
		return fmt.Errorf("%w; its output: %s", err, out)
	}
	return nil
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("versitygw exited")
		default:
		}
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("versitygw did not answer on %s within %s", s.addr, limit)
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
	if s.log != nil {
		s.log.Close()
		os.Remove(s.log.Name())
		s.log = nil
	}
}

// Restart starts a killed server again on the same address and directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restarting versitygw: %v", err)
}

// Bucket creates a bucket (a directory of the posix root) with a unique
// name starting with prefix, and returns its name.
func (s *Server) Bucket(t testing.TB, prefix string) string {
	t.Helper()
	name := strings.ToLower(prefix) + "-" + token(4)
	if err := os.Mkdir(filepath.Join(s.Dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

// Options are the s3.Options of bucket/prefix on this server, with its
// credentials.
func (s *Server) Options(bucket, prefix string) s3.Options {
	return s3.Options{Bucket: bucket, Prefix: prefix, Endpoint: s.Endpoint, Region: "us-east-1", AccessKeyID: s.Access, SecretAccessKey: s.Secret}
}

// Backend opens bucket/prefix on this server (mod adjusts the options);
// t.Cleanup closes it.
func (s *Server) Backend(t testing.TB, bucket, prefix string, mod ...func(*s3.Options)) *s3.Backend {
	t.Helper()
	o := s.Options(bucket, prefix)
	for _, m := range mod {
		m(&o)
	}
	b, err := s3.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
