package restore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/mountcheck"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// liveSetup is a pack on its own tmpfs (the share), a live database and
// the engine running the app that holds it.
type liveSetup struct {
	share string
	pack  *backuptest.Pack
	live  string
	eng   *backuptest.Engine
}

func newLiveSetup(t *testing.T) *liveSetup {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a share needs root")
	}
	share := t.TempDir()
	if err := syscall.Mount("tmpfs", share, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(share, syscall.MNT_DETACH) })
	return &liveSetup{share: share, pack: backuptest.MustPack(t, share, backuptest.Created),
		live: backuptest.MustSQLite(t, t.TempDir(), "auth.db", "zed"), eng: backuptest.NewRunningEngine()}
}

func (s *liveSetup) spec(t *testing.T) restore.LiveSpec {
	return restore.LiveSpec{Pack: s.pack.Dir, PackageHash: s.pack.Hash, JobID: 7, Live: s.live, Engine: s.eng,
		Stop: restore.StopList{Project: "demo", Services: []string{"app"}}, StagingDir: t.TempDir()}
}

func (s *liveSetup) drop(t *testing.T) {
	if err := syscall.Unmount(s.share, syscall.MNT_DETACH); err != nil {
		t.Errorf("unmount the share: %v", err)
	}
}

// mustMountChanged checks a live restore failed naming mount_changed and
// left the live database as it was.
func (s *liveSetup) mustMountChanged(t *testing.T, err error, before []byte) {
	t.Helper()
	var le *restore.LiveError
	if !errors.As(err, &le) || le.Code != "mount_changed" || !errors.Is(err, mountcheck.ErrMountChanged) || !errors.Is(err, restore.ErrLiveConflict) {
		t.Fatalf("after the share dropped: %v, want mount_changed", err)
	}
	if after, _ := os.ReadFile(s.live); !bytes.Equal(before, after) {
		t.Error("the live database changed")
	}
	if kept, _ := filepath.Glob(s.live + sqlitesnap.BeforeRestoreSuffix + "*"); len(kept) != 0 {
		t.Errorf("kept copies left: %v", kept)
	}
}

// A share that drops while the pack's database is re-hashed fails the
// check with mount_changed (the read through the pin is canceled, never
// garbled), before anything is recorded or stopped.
func TestLiveShareDropsMidRead(t *testing.T) {
	s := newLiveSetup(t)
	before, _ := os.ReadFile(s.live)
	var (
		mu   sync.Mutex
		rctx context.Context
		once sync.Once
	)
	spec := s.spec(t)
	spec.Hooks.BeforeStep = func(ctx context.Context, _ progress.Step) error { mu.Lock(); rctx = ctx; mu.Unlock(); return nil }
	spec.Hooks.WrapReader = func(_ progress.Step, _ string, r io.Reader) io.Reader {
		return readerFunc(func(p []byte) (int, error) {
			dropped := false
			once.Do(func() { s.drop(t); dropped = true })
			if dropped {
				mu.Lock()
				ctx := rctx
				mu.Unlock()
				select {
				case <-ctx.Done():
					return 0, context.Cause(ctx)
				case <-time.After(10 * time.Second):
				}
			}
			return r.Read(p)
		})
	}
	recorded := false
	spec.Record = func(context.Context, restore.LiveChecked) error { recorded = true; return nil }
	_, err := restore.Live(context.Background(), spec)
	s.mustMountChanged(t, err, before)
	if stops, _ := s.eng.StopStartCalls(); recorded || stops != 0 {
		t.Errorf("recorded %v, %d stops: the restore went on after the share dropped", recorded, stops)
	}
}

// A share that drops once the pack passed its checks fails the
// replacement with mount_changed; the stopped app runs again.
func TestLiveShareDropsBeforeTheReplacement(t *testing.T) {
	s := newLiveSetup(t)
	before, _ := os.ReadFile(s.live)
	spec := s.spec(t)
	spec.Record = func(ctx context.Context, c restore.LiveChecked) error {
		if len(c.Stop) != 1 || c.DBSHA256 != backuptest.Hex(s.pack.Files["auth.db"]) {
			t.Errorf("checked %+v", c)
		}
		s.drop(t)
		return nil
	}
	res, err := restore.Live(context.Background(), spec)
	s.mustMountChanged(t, err, before)
	if !res.Restarted || !s.eng.IsRunning("c-app") {
		t.Errorf("the app does not run again: %+v", res)
	}
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
