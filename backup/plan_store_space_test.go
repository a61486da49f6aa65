package backup_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
)

// A store backup needs room on the target for what the pack store lacks,
// not for the whole pack: with an estimate far beyond the target's free
// space, a classic plan is refused for lack of room while a store plan of
// the same (unchanged) stack, whose data the store holds, passes, its
// target check naming what the store lacks.
func TestPlanStoreNeedsOnlyWhatTheStoreLacks(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	spec := backuptest.MustSpec(t, eng)
	spec.Format = backup.FormatStore
	if _, err := backup.Run(ctx, spec, nil); err != nil {
		t.Fatal(err)
	}
	huge := func(e backup.Estimate) backup.Estimate { e.Volumes += 1 << 60; return e }

	classic := spec
	classic.Format = backup.FormatClassic
	classic.Hooks.AdjustEstimate = huge
	if _, err := backup.Plan(ctx, classic); err == nil {
		t.Fatal("a classic plan needing 1 EiB more than the target has passed")
	}

	store := spec
	store.Hooks.AdjustEstimate = huge
	p, err := backup.Plan(ctx, store)
	if err != nil {
		t.Fatalf("the store plan of an unchanged stack: %v", errors.Unwrap(err))
	}
	var lacks string
	for _, c := range p.Checks {
		if c.Name == precheck.NameTarget {
			if c.Status != check.OK {
				t.Errorf("target check %s: %s", c.Status, c.Summary)
			}
			for _, e := range c.Evidence {
				if e.Key == "store_lacks" {
					lacks = e.Value
				}
			}
		}
	}
	if lacks == "" || p.Required >= 1<<60 {
		t.Errorf("store plan: required %d, store_lacks evidence %q", p.Required, lacks)
	}
	t.Logf("store plan: required %d bytes (store lacks %s)", p.Required, lacks)
}
