package prune_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

func TestPruneStoreWaitsForBackupsLease(t *testing.T) {
	ctx := context.Background()
	spec := backuptest.MustSpec(t, backuptest.NewEngine())
	spec.Format = backup.FormatStore
	for i := 0; i < 3; i++ {
		if _, err := backup.Run(ctx, spec, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	b, err := local.Open(ctx, local.Options{Dir: spec.Target, Owner: "someone"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	held, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Shared, Owner: owner.Self(""), Purpose: "backup of demo"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = prune.Run(ctx, prune.Options{Target: spec.Target, Project: "demo", Keep: 1})
	var le *store.LockedError
	if !errors.As(err, &le) || le.Holder.Purpose != "backup of demo" {
		t.Fatalf("prune while a backup holds the store: %v", err)
	}
	if packs, _ := pack.List(ctx, spec.Target); len(packs) != 3 {
		t.Fatalf("a refused prune deleted packs: %d left", len(packs))
	}
	held.Release(ctx)
	res, err := prune.Run(ctx, prune.Options{Target: spec.Target, Project: "demo", Keep: 1})
	if err != nil || len(res.Deleted) != 2 || res.GC == nil || res.GCSkipped != "" {
		t.Fatalf("prune: %v %+v", err, res)
	}
	packs, _ := pack.List(ctx, spec.Target)
	if _, err := pack.Verify(ctx, packs[0].Path, pack.VerifyOptions{Structural: true, ReadDataSubset: 1}); err != nil {
		t.Fatalf("the kept pack after gc: %v", err)
	}
}

func TestDecidePruneKeepDaily(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 12, d, h, 0, 0, 0, time.UTC) }
	var packs []pack.Info
	for _, c := range []time.Time{day(5, 12), day(5, 6), day(4, 23), day(4, 1), day(3, 9), day(1, 9)} {
		packs = append(packs, pack.Info{Name: c.Format("0102_15"), Status: pack.StatusComplete, Project: "p", CreatedAt: c})
	}
	d := prune.Decide(packs, prune.Options{Project: "p", Keep: 1, KeepDaily: 3}, day(6, 0), nil)
	var kept []string
	for _, p := range d.Kept {
		kept = append(kept, p.Name)
	}
	if got := len(kept); got != 3 || kept[0] != "1205_12" || kept[1] != "1204_23" || kept[2] != "1203_09" {
		t.Fatalf("kept %v", kept)
	}
}
