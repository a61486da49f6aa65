//go:build integration

package integration_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dockpack/dockpack/mountcheck"
)

// A Root opened from a pin writes into the pinned filesystem after the share
// is lazily unmounted: nothing appears in the directory the unmount uncovers
// (on the root filesystem), and the watch reports mount_changed.
func TestMountPinnedRootNeverWritesToTheUncoveredDirectory(t *testing.T) {
	dir := MustTmpfs(t, 8<<20)
	target := filepath.Join(dir, "packs")
	mcMkdir(t, target)
	ctx := context.Background()
	pin, err := mountcheck.Pin(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()
	root, err := pin.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	failed := make(chan error, 1)
	stop := pin.Watch(ctx, 20*time.Millisecond, func(err error) { failed <- err })
	defer stop()

	if err := root.Mkdir("before", 0o700); err != nil {
		t.Fatal(err)
	}
	MustUnmount(t, dir)
	// The uncovered mount point is an empty directory on the root filesystem.
	if err := root.Mkdir("after", 0o700); err != nil {
		t.Fatalf("mkdir through the pinned root after the unmount: %v", err)
	}
	f, err := root.Create("after/file")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("bytes that must not reach the root filesystem"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the uncovered directory %s holds %v: a write went to the root filesystem", dir, ents)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, mountcheck.ErrMountChanged) {
			t.Fatalf("watch: %v, want ErrMountChanged", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not notice the unmount within 5s")
	}
}

// A mount point inside the pinned target is refused by SameDevice.
func TestMountPinnedRootRefusesANestedMount(t *testing.T) {
	dir := MustTmpfs(t, 8<<20)
	ctx := context.Background()
	pin, err := mountcheck.Pin(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()
	root, err := pin.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	inner := filepath.Join(dir, "inner")
	mcMkdir(t, inner)
	mcMountTmpfs(t, inner, 1<<20)
	fi, err := root.Stat("inner")
	if err != nil {
		t.Fatal(err)
	}
	if err := pin.SameDevice("inner", fi); !errors.Is(err, mountcheck.ErrMountChanged) {
		t.Fatalf("SameDevice of a nested mount: %v", err)
	}
	fi, _ = root.Stat(".")
	if err := pin.SameDevice(".", fi); err != nil {
		t.Fatal(err)
	}
}
