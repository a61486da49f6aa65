//go:build integration

package integration_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/drill"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
	"github.com/dockpack/dockpack/mountcheck"
)

// TestFaultsUnmount unmounts the target (umount -l) while a backup holds at
// every step boundary and inside the streaming steps — also while the
// engine sends nothing (images@start: a graph-driver engine staging an
// export) — and the share holding a pack while it is verified, restored and
// drilled: each fails naming mount_changed within 5 s, the directory the
// unmount uncovers on the root filesystem stays empty (nothing was created
// in it), and the stopped service runs again.
func TestFaultsUnmount(t *testing.T) {
	s := fxNewStack(t)
	var points []killPoint
	for _, hold := range []string{"sqlite", "volumes@start", "volumes", "images@start", "images", "compose", "manifest", "finalize"} {
		points = append(points, killPoint{driver: "cli", hold: hold})
	}
	// Every file boundary: the hold comes at the next file's first write,
	// after it was created through the pinned handle.
	bounds := s.fileBoundaries(t)
	for _, b := range bounds {
		points = append(points, killPoint{driver: "cli", hold: testseams.HoldBytes, offset: b})
	}
	for _, p := range points {
		t.Run("backup-"+p.name(), func(t *testing.T) {
			s.target = MustTmpfs(t, 64<<20)
			holdDir := t.TempDir()
			proc := s.startCLI(t, p.seamEnv(holdDir, nil)...)
			if !waitFile(t, filepath.Join(holdDir, "held-"+p.heldStep()), proc, 60*time.Second) {
				t.Fatalf("the backup did not reach %s:\n%s", p.name(), proc.output())
			}
			MustUnmount(t, s.target)
			t0 := time.Now()
			code := proc.wait(t, 30*time.Second)
			took := time.Since(t0)
			if code == 0 || proc.errorCode() != "mount_changed" || took > 5*time.Second {
				t.Fatalf("after the unmount: exit %d, error_code %q after %s (want mount_changed within 5s)\n%s", code, proc.errorCode(), took, proc.output())
			}
			if ents, _ := os.ReadDir(s.target); len(ents) != 0 {
				t.Fatalf("the uncovered directory %s on the root filesystem holds %v: a write went to the wrong disk", s.target, ents)
			}
			if !s.running(t) {
				t.Fatal("the stopped service is not running again")
			}
			t.Logf("%s: mount_changed %s after the unmount; uncovered directory empty", p.name(), took.Round(time.Millisecond))
		})
	}
	t.Run("verify", func(t *testing.T) { unmountVerify(t, s) })
	t.Run("drill", func(t *testing.T) { unmountDrill(t, s) })
	t.Run("restore", func(t *testing.T) { unmountRestore(t, s) })
}

// packOnTmpfs makes a pack of the stack on a fresh tmpfs and returns its path.
func packOnTmpfs(t *testing.T, s *fxStack) string {
	t.Helper()
	s.target = MustTmpfs(t, 64<<20)
	if code := s.startCLI(t).wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("backup exit %d", code)
	}
	packs, _ := TargetDirs(t, s.target)
	if len(packs) != 1 {
		t.Fatalf("packs %v", packs)
	}
	return filepath.Join(s.target, packs[0])
}

// unmountOnFirstData returns a progress func that unmounts dir at the first
// bytes of a data file and then holds the reader long enough for the pin's
// timer to notice (as a long read on a dropped share would).
func unmountOnFirstData(t *testing.T, dir string, at *time.Time) progress.Func {
	var once sync.Once
	return func(r progress.Report) {
		if !strings.Contains(r.Item, "/") { // a volume file: data follows
			return
		}
		once.Do(func() {
			MustUnmount(t, dir)
			*at = time.Now()
			time.Sleep(pack.DirCheckInterval + time.Second)
		})
	}
}

func unmountVerify(t *testing.T, s *fxStack) {
	dir := packOnTmpfs(t, s)
	var at time.Time
	_, err := pack.Verify(context.Background(), dir, pack.VerifyOptions{StagingDir: t.TempDir(), ProgressInterval: time.Nanosecond,
		Progress: unmountOnFirstData(t, s.target, &at)})
	took := time.Since(at)
	if at.IsZero() || !errors.Is(err, mountcheck.ErrMountChanged) || backup.ErrorCode(err) != "mount_changed" || took > 5*time.Second {
		t.Fatalf("verify after the unmount: %v (%s after it)", err, took)
	}
	t.Logf("verify: mount_changed %s after the unmount", took.Round(time.Millisecond))
}

func unmountDrill(t *testing.T, s *fxStack) {
	dir := packOnTmpfs(t, s)
	m, hash, err := pack.ReadManifest(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = m
	var at time.Time
	d := drill.Drill{DrillID: drill.NewID(), BackupPath: dir, BackupHash: hash}
	drill.Run(context.Background(), &d, drill.Options{Dir: t.TempDir(), StagingDir: t.TempDir(),
		Progress: unmountOnFirstData(t, s.target, &at)})
	took := time.Since(at)
	var named bool
	for _, c := range d.VerificationReport.Checks {
		if c.Status == check.Blocked && c.Code == "mount_changed" {
			named = true
		}
	}
	if at.IsZero() || d.AcceptanceStatus != drill.Blocked || !named || took > 5*time.Second+pack.DirCheckInterval {
		t.Fatalf("drill after the unmount: %s, checks %+v (%s after it)", d.AcceptanceStatus, d.VerificationReport.Checks, took)
	}
	t.Logf("drill: blocked, check verify names mount_changed")
}

// umountReader unmounts the share at its first read and then waits for
// the restore's context (canceled by the pack's pin) to end.
type umountReader struct {
	r    io.Reader
	once *sync.Once
	fire func()
	ctx  func() context.Context
}

func (u *umountReader) Read(p []byte) (int, error) {
	fired := false
	u.once.Do(func() { u.fire(); fired = true })
	if fired {
		select {
		case <-u.ctx().Done():
			return 0, context.Cause(u.ctx())
		case <-time.After(10 * time.Second):
		}
	}
	return u.r.Read(p)
}

func unmountRestore(t *testing.T, s *fxStack) {
	dir := packOnTmpfs(t, s)
	var at time.Time
	var mu sync.Mutex
	var rctx context.Context
	var once sync.Once
	project := strings.ToLower(fmt.Sprintf("%s-r%d", s.project, rand.IntN(1000)))
	spec := restore.Spec{Engine: MustEngine(t), Project: project, Components: []pack.Component{pack.ComponentVolumes}, StagingDir: t.TempDir(),
		Hooks: restore.Hooks{
			BeforeStep: func(ctx context.Context, _ progress.Step) error { mu.Lock(); rctx = ctx; mu.Unlock(); return nil },
			WrapReader: func(_ progress.Step, _ string, r io.Reader) io.Reader {
				return &umountReader{r: r, once: &once, fire: func() { MustUnmount(t, s.target); at = time.Now() },
					ctx: func() context.Context { mu.Lock(); defer mu.Unlock(); return rctx }}
			},
		}}
	t.Cleanup(func() {
		for _, v := range []string{"cache", "data"} {
			_ = MustEngine(t).RemoveVolume(context.Background(), project+"_"+v, true)
		}
	})
	_, err := restore.Run(context.Background(), dir, spec)
	took := time.Since(at)
	if at.IsZero() || !errors.Is(err, mountcheck.ErrMountChanged) || took > 5*time.Second {
		t.Fatalf("restore after the unmount: %v (%s after it)", err, took)
	}
	t.Logf("restore: mount_changed %s after the unmount: %v", took.Round(time.Millisecond), err)
}

// TestFaultsSignalAtHelperCreate sends SIGTERM to `dockpack backup` at the
// instant it creates the helper container of the unattached volume (a seam
// in dockerapi marks the instant; the signal lands within a random 0–30 ms
// of the engine's create), 20 times: never a helper left, never a partial,
// the stopped service always runs again, exit 130 or a complete pack.
func TestFaultsSignalAtHelperCreate(t *testing.T) {
	s := fxNewStack(t)
	canceled := 0
	for i := range 20 {
		holdDir := t.TempDir()
		wait := rand.IntN(30)
		proc := s.startCLI(t, testseams.EnvCreateHold+"="+fmt.Sprint(wait), testseams.EnvHoldDir+"="+holdDir)
		if !waitFile(t, filepath.Join(holdDir, "creating-container"), proc, 60*time.Second) {
			t.Fatalf("round %d: no helper creation seen:\n%s", i, proc.output())
		}
		_ = proc.cmd.Process.Signal(syscall.SIGTERM)
		code := proc.wait(t, time.Minute)
		if code == 130 {
			canceled++
		} else if code != 0 {
			t.Fatalf("round %d: exit %d\n%s", i, code, proc.output())
		}
		if d := s.debrisNow(t); !d.empty() {
			t.Fatalf("round %d (exit %d): left %s", i, code, d)
		}
	}
	s.verifyAll(t)
	t.Logf("20 SIGTERMs at the helper's creation: %d canceled (exit 130), %d finished; 0 helpers, partials or staged copies left", canceled, 20-canceled)
}

// TestFaultsENOSPC fills the target (another writer) right before each file
// of the pack is written, leaving less room than that file needs: the
// backup fails with no_space_left at every file, and leaves no partial pack,
// no owner record, no staged copy, and no stopped service.
func TestFaultsENOSPC(t *testing.T) {
	s := fxNewStack(t)
	ref := packOnTmpfs(t, s)
	m, _, err := pack.ReadManifest(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	items := []string{}
	for _, f := range m.Files {
		items = append(items, f.Path)
	}
	items = append(items, pack.ManifestFile, pack.SumsFile)
	for _, item := range items {
		t.Run(item, func(t *testing.T) {
			target := MustTmpfs(t, 64<<20)
			spec := backup.Spec{Engine: MustEngine(t), Project: s.project, Target: target, SQLitePath: s.db, StagingDir: s.staging,
				Policy: tmpfsPolicy, StopServices: []string{"app"}}
			filled := false
			spec.Hooks.WrapWriter = func(step progress.Step, it string, w io.Writer) io.Writer {
				if !filled && (it == item || strings.HasSuffix(item, "/"+it+".tar") || (step == progress.StepImages && item == pack.ImagesFile) ||
					(step == progress.StepSQLite && item == filepath.Base(s.db))) {
					filled = true
					fillTmpfs(t, target, 2048)
				}
				return w
			}
			_, err := backup.Run(context.Background(), spec, nil)
			if !filled || backup.ErrorCode(err) != "no_space_left" {
				t.Fatalf("filled %v: %v (code %s)", filled, err, backup.ErrorCode(err))
			}
			ents, _ := os.ReadDir(target)
			for _, e := range ents {
				if e.Name() != "filler" {
					t.Errorf("left in the full target: %s", e.Name())
				}
			}
			if d := s.debrisNow(t); !d.empty() {
				t.Errorf("left: %s", d)
			}
			// Room again: the next backup completes and its pack verifies.
			if err := os.Remove(filepath.Join(target, "filler")); err != nil {
				t.Fatal(err)
			}
			res, err := backup.Run(context.Background(), spec, nil)
			if err != nil {
				t.Fatalf("the next backup: %v", err)
			}
			if _, err := pack.Verify(context.Background(), res.Pack, pack.VerifyOptions{StagingDir: t.TempDir()}); err != nil {
				t.Fatalf("the next pack: %v", err)
			}
			t.Logf("%s: no_space_left, nothing left but the filler; the next backup completed and verifies", item)
		})
	}
}

// fillTmpfs writes a filler file leaving about free bytes in the filesystem.
func fillTmpfs(t *testing.T, dir string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := avail - free; n > 0 {
		if _, err := f.Write(make([]byte, n)); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
	}
}
