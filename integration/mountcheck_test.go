//go:build integration

package integration_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	units "github.com/docker/go-units"

	"github.com/dockpack/dockpack/mountcheck"
)

// Tests of package mountcheck on real tmpfs and bind mounts (the kernel here
// has no CIFS, so the policies name tmpfs). Test prefix TestMount, helper
// prefix mc.

const mcProbeTimeout = 5 * time.Second

// mcPolicy allows the named filesystem types, keeps every other default.
func mcPolicy(fstypes ...string) mountcheck.Policy {
	return mountcheck.Policy{FSTypes: fstypes, ProbeTimeout: mcProbeTimeout}
}

// mcMountTmpfs mounts a tmpfs of sizeBytes on the existing directory dir and
// lazily unmounts it in t.Cleanup.
func mcMountTmpfs(t *testing.T, dir string, sizeBytes int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", sizeBytes)); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { MustUnmount(t, dir) })
}

// mcMkdir creates dir on whatever is mounted there.
func mcMkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mcContains fails unless the error message contains every part.
func mcContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("message %q does not contain %q", err, p)
		}
	}
}

// mcNoProbeLeft fails if a probe file is left in dir.
func mcNoProbeLeft(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mountcheck.ProbePrefix) {
			t.Errorf("probe file %s left in %s", e.Name(), dir)
		}
	}
}

// mcRootFSType returns the type of the root filesystem, as Verify sees it.
func mcRootFSType(t *testing.T) string {
	t.Helper()
	rep, err := mountcheck.Verify(t.Context(), "/", mountcheck.Policy{AnyFSType: true, AllowRootFS: true, SkipProbe: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep.FSType
}

func TestMountFSTypeAllowedAndRefused(t *testing.T) {
	dir := MustTmpfs(t, 16<<20)

	rep, err := mountcheck.Verify(t.Context(), filepath.Join(dir, "packs", "new"), mcPolicy("tmpfs"))
	if err != nil {
		t.Fatalf("tmpfs allowed: %v", err)
	}
	if rep.FSType != "tmpfs" || rep.MountPoint != dir || rep.ExistingPath != dir || rep.OnRootFS || rep.ReadOnly {
		t.Errorf("report %+v: want tmpfs on %s, existing %s, not root, not read-only", rep, dir, dir)
	}
	if rep.TotalBytes != 16<<20 || rep.FreeBytes == 0 || rep.FreeBytes > rep.TotalBytes || rep.MountID <= 0 || rep.ProbeDuration <= 0 {
		t.Errorf("report numbers %+v: want total 16MiB, a probe duration, a mount id", rep)
	}
	mcNoProbeLeft(t, dir)
	t.Logf("allowed: %+v", rep)

	if _, err := mountcheck.Verify(t.Context(), dir, mountcheck.Policy{AnyFSType: true, ProbeTimeout: mcProbeTimeout}); err != nil {
		t.Errorf("any fstype: %v", err)
	}

	for _, c := range []struct {
		p        mountcheck.Policy
		expected string
	}{
		{mountcheck.Policy{ProbeTimeout: mcProbeTimeout}, "expected cifs|smb3"},
		{mcPolicy("nfs4", "smb3"), "expected nfs4|smb3"},
	} {
		rep, err := mountcheck.Verify(t.Context(), dir, c.p)
		if !errors.Is(err, mountcheck.ErrFSType) {
			t.Fatalf("policy %s: err = %v, want ErrFSType", c.p, err)
		}
		mcContains(t, err, dir, "is on a tmpfs filesystem", c.expected, "allow tmpfs")
		if rep.FSType != "tmpfs" || rep.ProbeDuration != 0 {
			t.Errorf("refused report %+v: want the fstype filled and no probe run", rep)
		}
	}
}

func TestMountEmptyMountPointDirectory(t *testing.T) {
	t.Run("on another mount", func(t *testing.T) {
		parent := MustTmpfs(t, 8<<20)
		replica := mcMkdir(t, filepath.Join(parent, "replica"))
		p := mcPolicy("tmpfs")
		p.ExpectedMountPoint = replica

		rep, err := mountcheck.Verify(t.Context(), filepath.Join(replica, "packs"), p)
		if !errors.Is(err, mountcheck.ErrNotMounted) {
			t.Fatalf("err = %v, want ErrNotMounted", err)
		}
		mcContains(t, err, filepath.Join(replica, "packs"), "held by mount "+parent, "expected mount "+replica,
			"nothing is mounted on "+replica, "mount "+replica)
		if rep.MountPoint != parent || rep.OnRootFS {
			t.Errorf("report %+v: want mount point %s, not root", rep, parent)
		}
		mcNoProbeLeft(t, replica)

		// Mount the share: the same call passes.
		mcMountTmpfs(t, replica, 4<<20)
		rep, err = mountcheck.Verify(t.Context(), filepath.Join(replica, "packs"), p)
		if err != nil || rep.MountPoint != replica {
			t.Fatalf("after mounting: mount point %q, err %v", rep.MountPoint, err)
		}
	})

	t.Run("on the root filesystem", func(t *testing.T) {
		dir := MustMountDir(t) // an empty dockpack-test-* directory, nothing mounted
		p := mcPolicy("tmpfs")
		p.ExpectedMountPoint = dir
		rep, err := mountcheck.Verify(t.Context(), dir, p)
		if !errors.Is(err, mountcheck.ErrNotMounted) {
			t.Fatalf("err = %v, want ErrNotMounted", err)
		}
		if !rep.OnRootFS {
			t.Fatalf("%s is not on the root filesystem: %+v", dir, rep)
		}
		mcContains(t, err, dir+" is on the root filesystem", "not on a mounted share", "mount it (mount "+dir+")", "--allow-root-fs")
		mcNoProbeLeft(t, dir)
		t.Logf("message: %v", err)
	})
}

func TestMountBindOfRootFSDirectoryIsRoot(t *testing.T) {
	src := t.TempDir()
	if rep, err := mountcheck.Verify(t.Context(), src, mountcheck.Policy{AnyFSType: true, AllowRootFS: true, SkipProbe: true}); err != nil || !rep.OnRootFS {
		t.Fatalf("the test needs %s on the root filesystem: %+v, %v", src, rep, err)
	}
	bind := MustBindMount(t, src)
	p := mcPolicy("tmpfs", "ext4", mcRootFSType(t)) // the fstype is not the reason

	rep, err := mountcheck.Verify(t.Context(), filepath.Join(bind, "packs"), p)
	if !errors.Is(err, mountcheck.ErrNotMounted) {
		t.Fatalf("err = %v, want ErrNotMounted", err)
	}
	if !rep.OnRootFS || rep.MountPoint != bind {
		t.Errorf("report %+v: want OnRootFS and the bind mount %s found as the holding mount", rep, bind)
	}
	mcContains(t, err, filepath.Join(bind, "packs")+" is on the root filesystem", "through the bind mount on "+bind, "--allow-root-fs")
	t.Logf("message: %v", err)

	// Only the root check refused it.
	p.AllowRootFS = true
	if _, err := mountcheck.Verify(t.Context(), filepath.Join(bind, "packs"), p); err != nil {
		t.Fatalf("with AllowRootFS: %v", err)
	}
	mcNoProbeLeft(t, bind)
}

func TestMountReadOnlyTmpfs(t *testing.T) {
	dir := MustTmpfs(t, 4<<20)
	MustRemountReadOnly(t, dir)
	for _, skip := range []bool{false, true} {
		p := mcPolicy("tmpfs")
		p.SkipProbe = skip
		rep, err := mountcheck.Verify(t.Context(), filepath.Join(dir, "packs"), p)
		if !errors.Is(err, mountcheck.ErrReadOnly) {
			t.Fatalf("SkipProbe=%v: err = %v, want ErrReadOnly", skip, err)
		}
		if !rep.ReadOnly || rep.ProbeDuration != 0 {
			t.Errorf("report %+v: want ReadOnly and no probe", rep)
		}
		mcContains(t, err, filepath.Join(dir, "packs"), "read-only mount", "mount "+dir, "mount -o remount,rw "+dir)
	}
}

func TestMountInsufficientSpace(t *testing.T) {
	t.Run("below the minimum", func(t *testing.T) {
		dir := MustTmpfs(t, 1<<20)
		p := mcPolicy("tmpfs")
		p.MinFreeBytes = 64 << 20
		rep, err := mountcheck.Verify(t.Context(), dir, p)
		if !errors.Is(err, mountcheck.ErrInsufficientSpace) {
			t.Fatalf("err = %v, want ErrInsufficientSpace", err)
		}
		if rep.TotalBytes != 1<<20 || rep.ProbeDuration != 0 {
			t.Errorf("report %+v: want total 1MiB and no probe", rep)
		}
		mcContains(t, err, dir, "need at least 64MiB", fmt.Sprint(64<<20),
			units.BytesSize(float64(rep.FreeBytes))+" free", fmt.Sprint(rep.FreeBytes), "of 1MiB")
		t.Logf("message: %v", err)

		p.MinFreeBytes = 512 << 10
		if _, err := mountcheck.Verify(t.Context(), dir, p); err != nil {
			t.Fatalf("512KiB of 1MiB: %v", err)
		}
	})

	t.Run("full, found by the probe", func(t *testing.T) {
		dir := MustTmpfs(t, 64<<10)
		f, err := os.Create(filepath.Join(dir, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		_, werr := io.Copy(f, io.LimitReader(mcZeros{}, 1<<20))
		f.Close()
		if !errors.Is(werr, syscall.ENOSPC) {
			t.Fatalf("filling the tmpfs: %v, want ENOSPC", werr)
		}
		rep, err := mountcheck.Verify(t.Context(), dir, mcPolicy("tmpfs"))
		if !errors.Is(err, mountcheck.ErrInsufficientSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("err = %v, want ErrInsufficientSpace wrapping ENOSPC", err)
		}
		mcContains(t, err, dir, "is full", units.BytesSize(float64(rep.FreeBytes))+" free of 64KiB")
		mcNoProbeLeft(t, dir)
		t.Logf("message: %v", err)
	})
}

type mcZeros struct{}

func (mcZeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestMountNested(t *testing.T) {
	outer := MustTmpfs(t, 8<<20)
	inner := mcMkdir(t, filepath.Join(outer, "inner"))
	mcMountTmpfs(t, inner, 2<<20)
	spaced := mcMkdir(t, filepath.Join(outer, "with space"))
	mcMountTmpfs(t, spaced, 2<<20)
	mcMkdir(t, filepath.Join(outer, "innerx"))
	if err := os.Symlink(inner, filepath.Join(outer, "link")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		path, wantPath, wantMount, wantExisting string
	}{
		{filepath.Join(inner, "packs", "new"), filepath.Join(inner, "packs", "new"), inner, inner},
		{inner + "/../inner/x", filepath.Join(inner, "x"), inner, inner},
		{filepath.Join(outer, "innerx", "y"), filepath.Join(outer, "innerx", "y"), outer, filepath.Join(outer, "innerx")},
		{filepath.Join(spaced, "x"), filepath.Join(spaced, "x"), spaced, spaced},
		{filepath.Join(outer, "link", "x"), filepath.Join(inner, "x"), inner, inner},
		{outer + "/", outer, outer, outer},
	}
	ids := map[string]int{}
	for _, c := range cases {
		t.Run(strings.TrimPrefix(c.path, outer), func(t *testing.T) {
			p := mcPolicy("tmpfs")
			p.ExpectedMountPoint = c.wantMount
			rep, err := mountcheck.Verify(t.Context(), c.path, p)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Path != c.wantPath || rep.MountPoint != c.wantMount || rep.ExistingPath != c.wantExisting {
				t.Fatalf("Path %q MountPoint %q ExistingPath %q; want %q %q %q",
					rep.Path, rep.MountPoint, rep.ExistingPath, c.wantPath, c.wantMount, c.wantExisting)
			}
			ids[rep.MountPoint] = rep.MountID
			mcNoProbeLeft(t, rep.ExistingPath)
		})
	}
	if ids[outer] == ids[inner] || ids[outer] == ids[spaced] || ids[inner] == ids[spaced] {
		t.Errorf("mount ids not distinct: %v", ids)
	}

	// A mount nested below the expected mount point is not the expected one.
	p := mcPolicy("tmpfs")
	p.ExpectedMountPoint = outer
	_, err := mountcheck.Verify(t.Context(), filepath.Join(inner, "packs"), p)
	if !errors.Is(err, mountcheck.ErrNotMounted) {
		t.Fatalf("err = %v, want ErrNotMounted", err)
	}
	mcContains(t, err, "held by mount "+inner, "nested below the expected mount "+outer)
}

func TestMountPinDetectsChanges(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   []string
	}{
		{"umount -l", func(t *testing.T, dir string) { MustUnmount(t, dir) },
			[]string{"is no longer mounted", "now resolves to mount /"}},
		{"replaced by a new mount", func(t *testing.T, dir string) {
			MustUnmount(t, dir)
			mcMountTmpfs(t, dir, 4<<20)
		}, []string{"is no longer mounted"}},
		{"mounted over", func(t *testing.T, dir string) { mcMountTmpfs(t, dir, 4<<20) },
			[]string{"the device changed from"}},
		{"bind-mounted over itself", func(t *testing.T, dir string) {
			if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { MustUnmount(t, dir) })
		}, []string{"the mount id changed from"}},
		{"remounted read-only", func(t *testing.T, dir string) { MustRemountReadOnly(t, dir) },
			[]string{"remounted read-only", "mount -o remount,rw "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := MustTmpfs(t, 4<<20)
			packs := mcMkdir(t, filepath.Join(dir, "packs"))
			pin, err := mountcheck.Pin(t.Context(), packs)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pin.Close() })
			pinned := pin.Report()
			if pinned.MountPoint != dir || pinned.FSType != "tmpfs" {
				t.Fatalf("pinned %+v, want tmpfs on %s", pinned, dir)
			}
			if err := pin.Check(t.Context()); err != nil {
				t.Fatalf("check before the change: %v", err)
			}
			c.change(t, dir)
			start := time.Now()
			err = pin.Check(t.Context())
			t.Logf("check took %s: %v", time.Since(start), err)
			if !errors.Is(err, mountcheck.ErrMountChanged) {
				t.Fatalf("err = %v, want ErrMountChanged", err)
			}
			mcContains(t, err, append([]string{packs, "mount " + dir, fmt.Sprintf("mount id %d", pinned.MountID), pinned.MajorMinor}, c.want...)...)
		})
	}
}

// mcBlockingOps is the real OS, except that Sync blocks until released or
// until Verify gives up on the probe.
type mcBlockingOps struct {
	mountcheck.OSFileOps
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

type mcBlockingFile struct {
	mountcheck.ProbeFile
	ctx context.Context
	ops *mcBlockingOps
}

func (o *mcBlockingOps) Create(ctx context.Context, name string) (mountcheck.ProbeFile, error) {
	f, err := o.OSFileOps.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &mcBlockingFile{ProbeFile: f, ctx: ctx, ops: o}, nil
}

func (f *mcBlockingFile) Sync() error {
	f.ops.once.Do(func() { close(f.ops.entered) })
	select {
	case <-f.ops.release:
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
	return f.ProbeFile.Sync()
}

func TestMountProbeTimeoutOnHungFsync(t *testing.T) {
	dir := MustTmpfs(t, 4<<20)
	ops := &mcBlockingOps{entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(ops.release) })
	p := mcPolicy("tmpfs")
	p.ProbeTimeout = 200 * time.Millisecond
	p.FileOps = ops

	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := mountcheck.Verify(t.Context(), dir, p)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(p.ProbeTimeout + 10*time.Second):
		t.Fatalf("Verify did not return within the probe timeout %s + 10s", p.ProbeTimeout)
	}
	t.Logf("Verify returned after %s: %v", time.Since(start), err)
	if !errors.Is(err, mountcheck.ErrProbeTimeout) {
		t.Fatalf("err = %v, want ErrProbeTimeout", err)
	}
	select {
	case <-ops.entered:
	default:
		t.Fatal("the probe never reached fsync")
	}
	mcContains(t, err, dir, "200ms", "stuck at fsync", "umount -l "+dir)

	// The abandoned probe removes its file once its fsync returns.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(dir)
		if len(ents) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe file still in %s after 10s: %v", dir, ents)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
