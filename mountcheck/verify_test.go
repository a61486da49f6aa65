package mountcheck_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	units "github.com/docker/go-units"
	"github.com/dockpack/dockpack/mountcheck"
)

// permissive passes every policy check on whatever filesystem the test's
// temporary directory is on, so a test can target one step.
func permissive() mountcheck.Policy {
	return mountcheck.Policy{AnyFSType: true, AllowRootFS: true, ProbeTimeout: 5 * time.Second}
}

func TestVerifyProbeOK(t *testing.T) {
	dir := MustTempDir(t)
	rep, err := mountcheck.Verify(t.Context(), dir, permissive())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Path != dir || rep.ExistingPath != dir {
		t.Errorf("Path %q ExistingPath %q, want %q", rep.Path, rep.ExistingPath, dir)
	}
	if rep.MountPoint == "" || rep.FSType == "" || rep.Source == "" || rep.Options == "" || rep.MajorMinor == "" {
		t.Errorf("mount fields not filled: %+v", rep)
	}
	if rep.MountID <= 0 || rep.Device == 0 || rep.TotalBytes == 0 || rep.FreeBytes > rep.TotalBytes {
		t.Errorf("numbers not plausible: %+v", rep)
	}
	if rep.ProbeDuration <= 0 {
		t.Errorf("ProbeDuration = %v", rep.ProbeDuration)
	}
	if rep.ProbeMode != 0o600 {
		t.Errorf("ProbeMode = %04o, want the 0600 it was created with", rep.ProbeMode)
	}
	if left := probeLeftovers(t, dir); len(left) > 0 {
		t.Errorf("probe files left behind: %v", left)
	}
	t.Logf("report: %+v", rep)
}

func TestVerifyRootFilesystem(t *testing.T) {
	cases := []struct {
		name, path string
		p          mountcheck.Policy
		wantPath   string
		wantParts  []string
	}{
		{"root itself", "/", mountcheck.Policy{}, "/",
			[]string{"/ is on the root filesystem", "not on a mounted share", "--allow-root-fs"}},
		{"missing path judged by /", "/dockpack-no-such-dir/a/../b", mountcheck.Policy{}, "/dockpack-no-such-dir/b",
			[]string{"/dockpack-no-such-dir/b is on the root filesystem"}},
		{"expected mount point named in the hint", "/dockpack-no-such-dir", mountcheck.Policy{ExpectedMountPoint: "/dockpack-no-such-mnt"},
			"/dockpack-no-such-dir", []string{"mount it (mount /dockpack-no-such-mnt)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := mountcheck.Verify(t.Context(), c.path, c.p)
			if !errors.Is(err, mountcheck.ErrNotMounted) {
				t.Fatalf("err = %v, want ErrNotMounted", err)
			}
			if !rep.OnRootFS || rep.ExistingPath != "/" || rep.Path != c.wantPath {
				t.Errorf("report %+v: want OnRootFS, ExistingPath /, Path %s", rep, c.wantPath)
			}
			mustContain(t, err.Error(), c.wantParts...)
		})
	}
}

func TestVerifyFSTypeAndExpectedMountPoint(t *testing.T) {
	dir := MustTempDir(t)
	p := permissive()
	p.AnyFSType = false
	p.FSTypes = []string{"dockpackfs"}
	rep, err := mountcheck.Verify(t.Context(), dir, p)
	if !errors.Is(err, mountcheck.ErrFSType) {
		t.Fatalf("err = %v, want ErrFSType", err)
	}
	mustContain(t, err.Error(), dir, "is on a "+rep.FSType+" filesystem", "expected dockpackfs")

	// The expected mount point is a directory below the real mount point:
	// nothing is mounted on it.
	p = permissive()
	p.ExpectedMountPoint = dir
	rep, err = mountcheck.Verify(t.Context(), filepath.Join(dir, "packs"), p)
	if rep.MountPoint == dir {
		t.Skipf("the temporary directory %s is itself a mount point", dir)
	}
	if !errors.Is(err, mountcheck.ErrNotMounted) {
		t.Fatalf("err = %v, want ErrNotMounted", err)
	}
	mustContain(t, err.Error(), "held by mount "+rep.MountPoint, "expected mount "+dir, "nothing is mounted on "+dir)

	// The path is not below the expected mount point at all.
	p.ExpectedMountPoint = filepath.Join(dir, "elsewhere")
	MustMkdir(t, p.ExpectedMountPoint)
	_, err = mountcheck.Verify(t.Context(), dir, p)
	if !errors.Is(err, mountcheck.ErrNotMounted) {
		t.Fatalf("err = %v, want ErrNotMounted", err)
	}
	mustContain(t, err.Error(), "not below the expected mount point "+p.ExpectedMountPoint)

	// The expected mount point does not exist.
	p.ExpectedMountPoint = filepath.Join(dir, "missing")
	_, err = mountcheck.Verify(t.Context(), filepath.Join(dir, "missing", "x"), p)
	if !errors.Is(err, mountcheck.ErrNotMounted) {
		t.Fatalf("err = %v, want ErrNotMounted", err)
	}
	mustContain(t, err.Error(), "expected mount point "+p.ExpectedMountPoint+" does not exist")
}

func TestVerifyResolvesPaths(t *testing.T) {
	base := MustTempDir(t)
	MustMkdir(t, filepath.Join(base, "real", "sub"))
	MustSymlink(t, "real", filepath.Join(base, "link"))
	MustSymlink(t, filepath.Join(base, "real"), filepath.Join(base, "abslink"))
	MustSymlink(t, "real/sub", filepath.Join(base, "sublink"))
	MustSymlink(t, filepath.Join(base, "real", "missing", "deeper"), filepath.Join(base, "dangling"))
	MustSymlink(t, "loop2", filepath.Join(base, "loop1"))
	MustSymlink(t, "loop1", filepath.Join(base, "loop2"))
	MustWriteFile(t, filepath.Join(base, "file"), "x")
	j := func(p ...string) string { return filepath.Join(append([]string{base}, p...)...) }

	cases := []struct {
		name, path             string
		wantPath, wantExisting string
	}{
		{"trailing slash", base + "/real/sub/", j("real", "sub"), j("real", "sub")},
		{"relative symlink", j("link", "sub"), j("real", "sub"), j("real", "sub")},
		{"absolute symlink and dot-dot", base + "/abslink/sub/../sub", j("real", "sub"), j("real", "sub")},
		{"dot-dot after a symlink is not lexical", base + "/sublink/..", j("real"), j("real")},
		{"missing path", j("new", "child"), j("new", "child"), base},
		{"dangling symlink", j("dangling", "x"), j("real", "missing", "deeper", "x"), j("real")},
		{"dot-dot below a missing dir", base + "/new/../link/sub", j("real", "sub"), j("real", "sub")},
		{"a file", j("file"), j("file"), j("file")},
	}
	p := permissive()
	p.SkipProbe = true
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := mountcheck.Verify(t.Context(), c.path, p)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Path != c.wantPath || rep.ExistingPath != c.wantExisting {
				t.Fatalf("Path %q ExistingPath %q, want %q and %q", rep.Path, rep.ExistingPath, c.wantPath, c.wantExisting)
			}
		})
	}

	t.Run("relative path", func(t *testing.T) {
		t.Chdir(base)
		rep, err := mountcheck.Verify(t.Context(), "link/sub", p)
		if err != nil || rep.Path != j("real", "sub") {
			t.Fatalf("Path %q, err %v; want %q", rep.Path, err, j("real", "sub"))
		}
	})

	for name, c := range map[string]struct {
		path string
		want error
	}{
		"symlink loop":      {j("loop1", "x"), syscall.ELOOP},
		"through a file":    {j("file", "x"), syscall.ENOTDIR},
		"probe into a file": {j("file"), nil},
	} {
		t.Run(name, func(t *testing.T) {
			p := permissive()
			_, err := mountcheck.Verify(t.Context(), c.path, p)
			if !errors.Is(err, mountcheck.ErrProbe) {
				t.Fatalf("err = %v, want ErrProbe", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			mustContain(t, err.Error(), base)
		})
	}
}

func TestVerifyProbeFailures(t *testing.T) {
	cases := []struct {
		name string
		ops  *faultOps
		want error
		also error // an underlying error that must stay visible to errors.Is
		msg  []string
	}{
		{"EROFS at create", &faultOps{failAt: "create", err: syscall.EROFS}, mountcheck.ErrReadOnly, syscall.EROFS, []string{"read-only", "create"}},
		{"EACCES at create", &faultOps{failAt: "create", err: syscall.EACCES}, mountcheck.ErrProbe, os.ErrPermission, []string{"may not write", "uid"}},
		{"ENOSPC at write", &faultOps{failAt: "write", err: syscall.ENOSPC}, mountcheck.ErrInsufficientSpace, syscall.ENOSPC, []string{"is full", "write", "free of"}},
		{"EDQUOT at sync", &faultOps{failAt: "sync", err: syscall.EDQUOT}, mountcheck.ErrInsufficientSpace, syscall.EDQUOT, []string{"fsync"}},
		{"EIO at sync", &faultOps{failAt: "sync", err: syscall.EIO}, mountcheck.ErrProbe, syscall.EIO, []string{"fsync", "not usable for writing"}},
		{"EIO at read back", &faultOps{failAt: "read", err: syscall.EIO}, mountcheck.ErrProbe, syscall.EIO, []string{"read back"}},
		{"corrupted read back", &faultOps{corrupt: true}, mountcheck.ErrProbe, nil, []string{"compare", "differ"}},
		{"EBUSY at remove", &faultOps{failAt: "remove", err: syscall.EBUSY}, mountcheck.ErrProbe, syscall.EBUSY, []string{"remove"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := MustTempDir(t)
			p := permissive()
			p.FileOps = c.ops
			rep, err := mountcheck.Verify(t.Context(), dir, p)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.also != nil && !errors.Is(err, c.also) {
				t.Fatalf("err = %v does not wrap %v", err, c.also)
			}
			mustContain(t, err.Error(), append([]string{dir}, c.msg...)...)
			if c.want == mountcheck.ErrReadOnly && !rep.ReadOnly {
				t.Error("Report.ReadOnly not set after EROFS")
			}
			if left := probeLeftovers(t, dir); len(left) > 0 {
				t.Errorf("probe files left behind: %v", left)
			}
		})
	}
}

// verifyAsync runs Verify in a goroutine and returns a channel with its result.
func verifyAsync(ctx context.Context, path string, p mountcheck.Policy) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := mountcheck.Verify(ctx, path, p)
		done <- err
	}()
	return done
}

// waitProbeGone polls until the abandoned probe goroutine removed its file.
func waitProbeGone(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(probeLeftovers(t, dir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("probe file still in %s after 10s", dir)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestVerifyProbeTimeout(t *testing.T) {
	const timeout = 150 * time.Millisecond
	const slack = 5 * time.Second
	for _, step := range []string{"create", "write", "sync", "read"} {
		t.Run(step, func(t *testing.T) {
			dir := MustTempDir(t)
			ops := newBlockingOps(step)
			t.Cleanup(func() { close(ops.release) })
			p := permissive()
			p.ProbeTimeout = timeout
			p.FileOps = ops

			start := time.Now()
			done := verifyAsync(t.Context(), dir, p)
			var err error
			select {
			case err = <-done:
			case <-time.After(timeout + slack):
				t.Fatalf("Verify did not return within %s although the probe timeout is %s", timeout+slack, timeout)
			}
			elapsed := time.Since(start)
			t.Logf("blocked at %s: Verify returned after %s (timeout %s)", step, elapsed, timeout)
			select {
			case <-ops.entered:
			default:
				t.Fatalf("the probe never reached %s; err = %v", step, err)
			}
			if !errors.Is(err, mountcheck.ErrProbeTimeout) {
				t.Fatalf("err = %v, want ErrProbeTimeout", err)
			}
			if elapsed < timeout {
				t.Errorf("returned after %s, before the timeout %s", elapsed, timeout)
			}
			mustContain(t, err.Error(), dir, timeout.String(), "not responding", "umount -l")
			waitProbeGone(t, dir)
		})
	}
}

func TestVerifyCancelDuringProbe(t *testing.T) {
	dir := MustTempDir(t)
	ops := newBlockingOps("sync")
	t.Cleanup(func() { close(ops.release) })
	p := permissive()
	p.ProbeTimeout = time.Hour
	p.FileOps = ops
	ctx, cancel := context.WithCancel(t.Context())
	done := verifyAsync(ctx, dir, p)
	select {
	case <-ops.entered:
	case err := <-done:
		t.Fatalf("Verify returned before the probe blocked: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the probe never reached fsync")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, mountcheck.ErrProbeTimeout) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify did not return within 5s of the cancel")
	}
	waitProbeGone(t, dir)

	// A context that is already done stops Verify before any I/O.
	_, err := mountcheck.Verify(ctx, dir, p)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestVerifyMinFreeBytes(t *testing.T) {
	dir := MustTempDir(t)
	p := permissive()
	p.SkipProbe = true
	rep, err := mountcheck.Verify(t.Context(), dir, p)
	if err != nil {
		t.Fatal(err)
	}
	p.MinFreeBytes = rep.TotalBytes + 1 // never satisfiable
	rep, err = mountcheck.Verify(t.Context(), dir, p)
	if !errors.Is(err, mountcheck.ErrInsufficientSpace) {
		t.Fatalf("err = %v, want ErrInsufficientSpace", err)
	}
	mustContain(t, err.Error(), dir, "need at least "+units.BytesSize(float64(p.MinFreeBytes)),
		units.BytesSize(float64(rep.FreeBytes))+" free", fmt.Sprint(p.MinFreeBytes), fmt.Sprint(rep.FreeBytes))
	t.Logf("%v (free %d, total %d)", err, rep.FreeBytes, rep.TotalBytes)
}

func TestFreeSpace(t *testing.T) {
	dir := MustTempDir(t)
	free, total, err := mountcheck.FreeSpace(t.Context(), filepath.Join(dir, "not", "yet"))
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || free > total {
		t.Fatalf("free %d total %d", free, total)
	}
	if _, _, err := mountcheck.FreeSpace(t.Context(), filepath.Join(dir, "..", filepath.Base(dir), "x")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := mountcheck.FreeSpace(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: err = %v", err)
	}
}

func TestPinCheckUnchangedAndRemovedDir(t *testing.T) {
	dir := MustTempDir(t)
	sub := filepath.Join(dir, "packs")
	MustMkdir(t, sub)
	pin, err := mountcheck.Pin(t.Context(), sub)
	if err != nil {
		t.Fatal(err)
	}
	closePin := pin.Close // bound now: pin is reassigned below
	t.Cleanup(func() { closePin() })
	rep := pin.Report()
	if rep.ExistingPath != sub || rep.MountID <= 0 || rep.Device == 0 {
		t.Fatalf("pinned report %+v", rep)
	}
	for i := range 3 {
		if err := pin.Check(t.Context()); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	// The directory goes, the filesystem stays: not a mount change.
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	err = pin.Check(t.Context())
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, mountcheck.ErrMountChanged) {
		t.Fatalf("err = %v, want fs.ErrNotExist and not ErrMountChanged", err)
	}
	mustContain(t, err.Error(), sub, "still mounted")

	// A path that did not exist at Pin time is pinned by its ancestor.
	pin2, err := mountcheck.Pin(t.Context(), filepath.Join(dir, "later", "x"))
	if err != nil {
		t.Fatal(err)
	}
	pin = pin2
	if got := pin.Report().ExistingPath; got != dir {
		t.Fatalf("ExistingPath %q, want %q", got, dir)
	}
	MustMkdir(t, filepath.Join(dir, "later", "x"))
	if err := pin.Check(t.Context()); err != nil {
		t.Fatalf("after creating the pinned path: %v", err)
	}
	// Close is idempotent and Check still works after it.
	for range 2 {
		if err := pin.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := pin.Check(t.Context()); err != nil {
		t.Fatalf("Check after Close: %v", err)
	}
}

func TestPinRelativePathSurvivesChdir(t *testing.T) {
	dir := MustTempDir(t)
	t.Chdir(dir)
	pin, err := mountcheck.Pin(t.Context(), "rel")
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()
	if got := pin.Report().Path; got != filepath.Join(dir, "rel") {
		t.Fatalf("Path %q", got)
	}
	t.Chdir("/")
	if err := pin.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameTheirSentinel(t *testing.T) {
	// Every sentinel is distinct, so errors.Is never confuses two failures.
	all := []error{mountcheck.ErrNotMounted, mountcheck.ErrFSType, mountcheck.ErrReadOnly, mountcheck.ErrProbe,
		mountcheck.ErrProbeTimeout, mountcheck.ErrInsufficientSpace, mountcheck.ErrMountChanged, mountcheck.ErrPolicy}
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.Error()] || strings.TrimSpace(e.Error()) == "" {
			t.Errorf("sentinel %q is empty or duplicated", e)
		}
		seen[e.Error()] = true
		for _, o := range all {
			if o != e && errors.Is(fmt.Errorf("x: %w", e), o) {
				t.Errorf("%v matches %v", e, o)
			}
		}
	}
}
