package backup_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
)

// PlanStore: the bytes the target's store lacks for a store backup —
// all of it before there is a store, and while only the first store pack
// holds a file (no history of how much of it changes); after an unchanged
// backup the volumes lack nothing; after a change, the share of each
// volume the newest store pack added.
func TestPlanStoreLacks(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	r := rand.New(rand.NewPCG(1, 2))
	for _, v := range []string{"demo_data", "shared"} {
		data := make([]byte, 4<<20)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		eng.VolData[v] = data
	}
	spec := backuptest.MustSpec(t, eng)
	spec.Format = backup.FormatStore
	plan := func(what string) *backup.StorePlan {
		t.Helper()
		p, err := backup.Plan(ctx, spec)
		if err != nil {
			t.Fatalf("%s: plan: %v", what, err)
		}
		sp, err := backup.PlanStore(ctx, spec, p)
		if err != nil || sp == nil {
			t.Fatalf("%s: PlanStore: %v", what, err)
		}
		if sp.Components["volumes"].Size != p.Estimate.Volumes || sp.Components["images"].Size != p.Estimate.Images {
			t.Fatalf("%s: sizes %+v, the plan's estimate %+v", what, sp.Components, p.Estimate)
		}
		t.Logf("%s: store %q basis %q lacks %d of %d: %+v", what, sp.StoreID, sp.Basis, sp.Lacks(), sp.Size(), sp.Components)
		return sp
	}
	run := func() {
		t.Helper()
		if _, err := backup.Run(ctx, spec, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // pack names are times
	}

	sp := plan("no store")
	if sp.StoreID != "" || sp.Lacks() != sp.Size() || sp.Components["volumes"].How != backup.LackNewStore {
		t.Fatalf("before any store backup: %+v", sp)
	}
	run()
	sp = plan("after the first")
	if sp.StoreID == "" || sp.Basis == "" || sp.Components["volumes"].How != backup.LackNoHistory || sp.Components["volumes"].Lacks != sp.Components["volumes"].Size {
		t.Fatalf("after the first store backup (no history of change yet): %+v", sp)
	}
	if im := sp.Components["images"]; im.Lacks != im.Size { // the fake engine has no ImageLayers: images.tar, not looked up
		t.Fatalf("images: %+v", im)
	}
	run()
	sp = plan("unchanged")
	if v := sp.Components["volumes"]; v.How != backup.LackHistory || v.Lacks != 0 {
		t.Fatalf("after an unchanged store backup the volumes lack %+v, want 0 by history", v)
	}
	copy(eng.VolData["demo_data"][2<<20:], make([]byte, 64<<10)) // a 64 KiB change in the middle
	run()
	sp = plan("changed")
	if v := sp.Components["volumes"]; v.How != backup.LackHistory || v.Lacks <= 0 || v.Lacks >= v.Size {
		t.Fatalf("after a changed store backup the volumes lack %+v, want part of them", v)
	}
}
