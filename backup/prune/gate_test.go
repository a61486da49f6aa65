package prune_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
)

func TestPruneRefusesWhenNewestFailsVerification(t *testing.T) {
	target := t.TempDir()
	old := backuptest.MustPack(t, target, pruneNow.Add(-3*time.Hour))
	mid := backuptest.MustPack(t, target, pruneNow.Add(-2*time.Hour))
	newest := backuptest.MustPack(t, target, pruneNow.Add(-1*time.Hour))
	os.Truncate(newest.Path("volumes/demo_data.tar"), 100)
	now := func() time.Time { return pruneNow }
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, Now: now})
	if !errors.Is(err, prune.ErrRefused) || !errors.Is(err, pack.ErrVerify) || !res.Refused || len(res.Deleted) != 0 || len(res.Blocked) != 2 {
		t.Fatalf("prune: %+v, %v", res, err)
	}
	if !strings.Contains(err.Error(), "volumes/demo_data.tar") {
		t.Errorf("the refusal does not name the failing file: %v", err)
	}
	for _, p := range []*backuptest.Pack{old, mid, newest} {
		if !backuptest.Exists(p.Dir) {
			t.Fatalf("%s deleted although the prune was refused", p.Dir)
		}
	}
	// Forced: the two older go, the newest (broken) stays.
	res, err = prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, Force: true, Now: now})
	if err != nil || len(res.Deleted) != 2 || backuptest.Exists(old.Dir) || backuptest.Exists(mid.Dir) || !backuptest.Exists(newest.Dir) {
		t.Fatalf("forced prune: %+v, %v", res, err)
	}
}

func TestPruneDeepCheck(t *testing.T) {
	target := t.TempDir()
	backuptest.MustPack(t, target, pruneNow.Add(-2*time.Hour))
	newest := backuptest.MustPack(t, target, pruneNow.Add(-1*time.Hour))
	backuptest.MustFlip(t, newest.Path("volumes/demo_data.tar"), 3000) // invisible to the structural check
	now := func() time.Time { return pruneNow }
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, DryRun: true, Now: now})
	if err != nil || len(res.Deleted) != 1 || res.Newest == nil || !res.Newest.Structural {
		t.Fatalf("structural dry run: %+v, %v", res, err)
	}
	res, err = prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, Deep: true, StagingDir: t.TempDir(), Now: now})
	if !errors.Is(err, prune.ErrRefused) || len(res.Deleted) != 0 {
		t.Fatalf("deep prune: %+v, %v", res, err)
	}
}

func TestPruneUnreadableNewestPack(t *testing.T) {
	target := t.TempDir()
	backuptest.MustPack(t, target, pruneNow.Add(-3*time.Hour))
	backuptest.MustPack(t, target, pruneNow.Add(-2*time.Hour))
	now := func() time.Time { return pruneNow }
	// A newer pack whose manifest does not parse: it may be the project's newest.
	broken := backuptest.MustPack(t, target, pruneNow.Add(-1*time.Hour))
	os.WriteFile(broken.Path(pack.ManifestFile), []byte(`{"project": "demo", "format_version": 1`), 0o644)
	if _, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, Now: now}); !errors.Is(err, prune.ErrRefused) {
		t.Fatalf("err = %v, want refused", err)
	}
	// One that names another project does not hold this project's prune back.
	os.WriteFile(broken.Path(pack.ManifestFile), []byte(`{"project": "other"}`), 0o644)
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, Now: now})
	if err != nil || len(res.Deleted) != 1 || !backuptest.Exists(broken.Dir) {
		t.Fatalf("prune: %+v, %v", res, err)
	}
}

func TestPrunePartialStillWritten(t *testing.T) {
	target := t.TempDir()
	backuptest.MustPack(t, target, pruneNow.Add(-time.Hour))
	partial := backuptest.MustPartial(t, target, pruneNow.Add(-48*time.Hour))
	os.WriteFile(filepath.Join(partial, "images.tar"), []byte("being written"), 0o644) // mtime: now
	o := prune.Options{Target: target, Keep: 5, PartialOlderThan: 24 * time.Hour, LiveWithin: time.Hour, Now: func() time.Time { return pruneNow }}
	if res, err := prune.Run(context.Background(), o); err != nil || len(res.Deleted) != 0 || !backuptest.Exists(partial) {
		t.Fatalf("a partial dir written to just now was deleted: %+v %v", res, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(partial, "images.tar"), old, old)
	os.Chtimes(partial, old, old)
	if res, err := prune.Run(context.Background(), o); err != nil || len(res.Deleted) != 1 || backuptest.Exists(partial) {
		t.Fatalf("an idle old partial dir was kept: %+v %v", res, err)
	}
}
