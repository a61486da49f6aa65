package prune_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
)

var pruneNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func pruneNames(ps []pack.Info) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func pruneBase(paths ...string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	slices.Sort(out)
	return out
}

func TestPruneKeepsNewest(t *testing.T) {
	target := t.TempDir()
	var demo []string
	for i := range 5 {
		demo = append(demo, backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-time.Duration(5-i)*time.Hour)))
	}
	other := backuptest.MustSmallPack(t, target, "other", pruneNow.Add(-10*time.Hour))
	invalid := filepath.Join(target, pack.NamePrefix+"20200101_000000_000")
	os.Mkdir(invalid, 0o755) // no manifest: never touched by retention
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 2, Now: func() time.Time { return pruneNow }})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pruneNames(res.Deleted), pruneBase(demo[:3]...); !slices.Equal(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	if got, want := pruneNames(res.Kept), pruneBase(demo[3:]...); !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	for _, p := range demo[:3] {
		if backuptest.Exists(p) {
			t.Errorf("%s still there", p)
		}
	}
	for _, p := range append(demo[3:], other, invalid) {
		if !backuptest.Exists(p) {
			t.Errorf("%s deleted", p)
		}
	}
	ents, _ := os.ReadDir(target)
	for _, e := range ents {
		if e.Name()[0] == '.' {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestPruneNeverDeletesNewestComplete(t *testing.T) {
	target := t.TempDir()
	old := backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-48*time.Hour))
	newest := backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-24*time.Hour))
	// Everything is older than MaxAge, and Keep is 1: only the newest survives.
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, MaxAge: time.Hour,
		Now: func() time.Time { return pruneNow }})
	if err != nil {
		t.Fatal(err)
	}
	if !backuptest.Exists(newest) || backuptest.Exists(old) || len(res.Kept) != 1 || len(res.Deleted) != 1 {
		t.Fatalf("newest kept=%v old deleted=%v result %+v", backuptest.Exists(newest), !backuptest.Exists(old), res)
	}
	// A partial directory newer than the newest pack (a running backup) is not touched.
	running := backuptest.MustPartial(t, target, pruneNow.Add(-time.Minute))
	if _, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 1, PartialOlderThan: time.Hour,
		Now: func() time.Time { return pruneNow }}); err != nil {
		t.Fatal(err)
	}
	if !backuptest.Exists(running) || !backuptest.Exists(newest) {
		t.Fatal("a running backup's partial dir or the newest pack was deleted")
	}
}

func TestPruneAgeOnly(t *testing.T) {
	target := t.TempDir()
	a := backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-72*time.Hour))
	b := backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-2*time.Hour))
	c := backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-time.Hour))
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", MaxAge: 24 * time.Hour,
		Now: func() time.Time { return pruneNow }})
	if err != nil {
		t.Fatal(err)
	}
	if backuptest.Exists(a) || !backuptest.Exists(b) || !backuptest.Exists(c) || len(res.Deleted) != 1 {
		t.Fatalf("age-only prune %+v", res)
	}
}

func TestPrunePartials(t *testing.T) {
	target := t.TempDir()
	backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-time.Hour))
	oldPartial := backuptest.MustPartial(t, target, pruneNow.Add(-48*time.Hour))
	protected := backuptest.MustPartial(t, target, pruneNow.Add(-47*time.Hour))
	young := backuptest.MustPartial(t, target, pruneNow.Add(-30*time.Minute))
	leftover := filepath.Join(target, pack.DeletingPrefix+"20240101_000000_000")
	os.MkdirAll(filepath.Join(leftover, "volumes"), 0o755)

	// PartialOlderThan 0: partials are left alone.
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Keep: 5, Now: func() time.Time { return pruneNow }})
	if err != nil || len(res.Deleted) != 0 || !backuptest.Exists(oldPartial) {
		t.Fatalf("without PartialOlderThan: %+v %v", res, err)
	}
	if backuptest.Exists(leftover) {
		t.Fatal("leftover of an interrupted deletion not removed")
	}
	res, err = prune.Run(context.Background(), prune.Options{Target: target, Keep: 5, PartialOlderThan: 24 * time.Hour,
		Protect: []string{protected}, Now: func() time.Time { return pruneNow }})
	if err != nil {
		t.Fatal(err)
	}
	if backuptest.Exists(oldPartial) || !backuptest.Exists(protected) || !backuptest.Exists(young) || len(res.Deleted) != 1 {
		t.Fatalf("partials: %+v", res)
	}
}

func TestPruneDryRun(t *testing.T) {
	target := t.TempDir()
	a := backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-3*time.Hour))
	b := backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-2*time.Hour))
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Keep: 1, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 1 || res.Deleted[0].Path != a || !backuptest.Exists(a) || !backuptest.Exists(b) {
		t.Fatalf("dry run %+v", res)
	}
}

func TestPruneValidate(t *testing.T) {
	for _, o := range []prune.Options{{}, {Target: t.TempDir(), Keep: -1}, {Target: t.TempDir(), MaxAge: -time.Second}} {
		if _, err := prune.Run(context.Background(), o); !errors.Is(err, backup.ErrInvalidSpec) {
			t.Errorf("Prune(%+v) = %v, want ErrInvalidSpec", o, err)
		}
	}
	if _, err := prune.Run(context.Background(), prune.Options{Target: filepath.Join(t.TempDir(), "missing"), Keep: 1}); err == nil {
		t.Error("Prune of a missing target succeeded")
	}
}
