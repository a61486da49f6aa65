//go:build integration

package integration_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// MustTmpfs mounts a fresh tmpfs of sizeBytes on a new directory named
// dockpack-test-* and unmounts it (lazily) and removes the directory in
// t.Cleanup. extra is appended to the mount data (e.g. "mode=0755").
func MustTmpfs(t testing.TB, sizeBytes int64, extra ...string) string {
	t.Helper()
	dir := MustMountDir(t)
	data := fmt.Sprintf("size=%d", sizeBytes)
	for _, e := range extra {
		data += "," + e
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, data); err != nil {
		t.Fatalf("mount tmpfs on %s: %v (integration tests must run as root)", dir, err)
	}
	t.Cleanup(func() { MustUnmount(t, dir) })
	return dir
}

// MustMountDir creates an empty directory named dockpack-test-<pid>-* on the root
// filesystem to mount something on; it is removed in t.Cleanup.
func MustMountDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-*", mountPrefix, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	// os.Remove, not RemoveAll: if an unmount failed, never delete what is mounted.
	t.Cleanup(func() { os.Remove(dir) })
	return dir
}

// MustUnmount lazily unmounts dir; unmounting something already gone is fine.
func MustUnmount(t testing.TB, dir string) {
	t.Helper()
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
		t.Errorf("unmount %s: %v", dir, err)
	}
}

// MustBindMount bind-mounts src on a new dockpack-test-* directory.
func MustBindMount(t testing.TB, src string) string {
	t.Helper()
	dir := MustMountDir(t)
	if err := syscall.Mount(src, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount %s on %s: %v", src, dir, err)
	}
	t.Cleanup(func() { MustUnmount(t, dir) })
	return dir
}

// MustRemountReadOnly remounts the tmpfs at dir read-only.
func MustRemountReadOnly(t testing.TB, dir string) {
	t.Helper()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}
