package mountcheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/mountcheck"
	"github.com/moby/sys/mountinfo"
)

// MustParseFile parses a recorded mount table from testdata.
func MustParseFile(t testing.TB, name string) []*mountinfo.Info {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mounts, err := mountcheck.ParseMountinfo(f)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return mounts
}

// MustTempDir is t.TempDir with symlinks resolved, so it compares equal to
// the paths mountcheck reports.
func MustTempDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// MustMkdir creates dir and its parents.
func MustMkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// MustSymlink creates link pointing to target.
func MustSymlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// MustWriteFile writes a small file.
func MustWriteFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// probeLeftovers lists probe files left in dir.
func probeLeftovers(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mountcheck.ProbePrefix) {
			left = append(left, e.Name())
		}
	}
	return left
}

// mustContain fails unless s contains every part.
func mustContain(t testing.TB, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("message %q does not contain %q", s, p)
		}
	}
}
