package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
)

var pruneNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func pruneNames(ps []backup.PackInfo) []string {
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
		demo = append(demo, MustTestPack(t, target, "demo", pruneNow.Add(-time.Duration(5-i)*time.Hour)))
	}
	other := MustTestPack(t, target, "other", pruneNow.Add(-10*time.Hour))
	invalid := filepath.Join(target, backup.PackPrefix+"20200101_000000_000")
	os.Mkdir(invalid, 0o755) // no manifest: never touched by retention
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 2, Now: func() time.Time { return pruneNow }})
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
		if mgrExists(p) {
			t.Errorf("%s still there", p)
		}
	}
	for _, p := range append(demo[3:], other, invalid) {
		if !mgrExists(p) {
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
	old := MustTestPack(t, target, "demo", pruneNow.Add(-48*time.Hour))
	newest := MustTestPack(t, target, "demo", pruneNow.Add(-24*time.Hour))
	// Everything is older than MaxAge, and Keep is 1: only the newest survives.
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, MaxAge: time.Hour,
		Now: func() time.Time { return pruneNow }})
	if err != nil {
		t.Fatal(err)
	}
	if !mgrExists(newest) || mgrExists(old) || len(res.Kept) != 1 || len(res.Deleted) != 1 {
		t.Fatalf("newest kept=%v old deleted=%v result %+v", mgrExists(newest), !mgrExists(old), res)
	}
	// A partial directory newer than the newest pack (a running backup) is not touched.
	running := MustPartial(t, target, pruneNow.Add(-time.Minute))
	if _, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, PartialOlderThan: time.Hour,
		Now: func() time.Time { return pruneNow }}); err != nil {
		t.Fatal(err)
	}
	if !mgrExists(running) || !mgrExists(newest) {
		t.Fatal("a running backup's partial dir or the newest pack was deleted")
	}
}

func TestPruneAgeOnly(t *testing.T) {
	target := t.TempDir()
	a := MustTestPack(t, target, "demo", pruneNow.Add(-72*time.Hour))
	b := MustTestPack(t, target, "demo", pruneNow.Add(-2*time.Hour))
	c := MustTestPack(t, target, "demo", pruneNow.Add(-time.Hour))
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", MaxAge: 24 * time.Hour,
		Now: func() time.Time { return pruneNow }})
	if err != nil {
		t.Fatal(err)
	}
	if mgrExists(a) || !mgrExists(b) || !mgrExists(c) || len(res.Deleted) != 1 {
		t.Fatalf("age-only prune %+v", res)
	}
}

func TestPrunePartials(t *testing.T) {
	target := t.TempDir()
	MustTestPack(t, target, "demo", pruneNow.Add(-time.Hour))
	oldPartial := MustPartial(t, target, pruneNow.Add(-48*time.Hour))
	protected := MustPartial(t, target, pruneNow.Add(-47*time.Hour))
	young := MustPartial(t, target, pruneNow.Add(-30*time.Minute))
	leftover := filepath.Join(target, backup.DeletingPrefix+"20240101_000000_000")
	os.MkdirAll(filepath.Join(leftover, "volumes"), 0o755)

	// PartialOlderThan 0: partials are left alone.
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Keep: 5, Now: func() time.Time { return pruneNow }})
	if err != nil || len(res.Deleted) != 0 || !mgrExists(oldPartial) {
		t.Fatalf("without PartialOlderThan: %+v %v", res, err)
	}
	if mgrExists(leftover) {
		t.Fatal("leftover of an interrupted deletion not removed")
	}
	res, err = backup.Prune(context.Background(), backup.PruneOptions{Target: target, Keep: 5, PartialOlderThan: 24 * time.Hour,
		Protect: []string{protected}, Now: func() time.Time { return pruneNow }})
	if err != nil {
		t.Fatal(err)
	}
	if mgrExists(oldPartial) || !mgrExists(protected) || !mgrExists(young) || len(res.Deleted) != 1 {
		t.Fatalf("partials: %+v", res)
	}
}

func TestPruneDryRun(t *testing.T) {
	target := t.TempDir()
	a := MustTestPack(t, target, "demo", pruneNow.Add(-3*time.Hour))
	b := MustTestPack(t, target, "demo", pruneNow.Add(-2*time.Hour))
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Keep: 1, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 1 || res.Deleted[0].Path != a || !mgrExists(a) || !mgrExists(b) {
		t.Fatalf("dry run %+v", res)
	}
}

func TestPruneValidate(t *testing.T) {
	for _, o := range []backup.PruneOptions{{}, {Target: t.TempDir(), Keep: -1}, {Target: t.TempDir(), MaxAge: -time.Second}} {
		if _, err := backup.Prune(context.Background(), o); !errors.Is(err, backup.ErrInvalidSpec) {
			t.Errorf("Prune(%+v) = %v, want ErrInvalidSpec", o, err)
		}
	}
	if _, err := backup.Prune(context.Background(), backup.PruneOptions{Target: filepath.Join(t.TempDir(), "missing"), Keep: 1}); err == nil {
		t.Error("Prune of a missing target succeeded")
	}
}
