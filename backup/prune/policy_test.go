package prune_test

import (
	"slices"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
)

// The retention decision is a pure function of the packs, the policy and
// the time: keep-last N plus the newest pack of each of the last D days,
// W ISO weeks and M months; the sets add up (a pack kept for two reasons
// counts once); what none keeps is dropped.
func TestDecidePruneKeepWeeklyMonthly(t *testing.T) {
	at := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC) }
	created := []time.Time{ // newest first, as List returns them
		at(12, 5, 12), at(12, 4, 9), // week 49 (Mon Nov 30 – Sun Dec 6)
		at(11, 28, 9), at(11, 23, 9), // week 48 (Nov 23 – 29)
		at(11, 20, 9), at(11, 16, 9), // week 47
		at(10, 31, 9), at(10, 2, 9), // October: week 44, week 40
		at(9, 30, 9), at(8, 15, 9), // September, August
	}
	var packs []pack.Info
	for _, c := range created {
		packs = append(packs, pack.Info{Name: c.Format("0102_15"), Status: pack.StatusComplete, Project: "p", CreatedAt: c})
	}
	now := at(12, 6, 0)
	kept := func(o prune.Options) []string {
		o.Project = "p"
		d := prune.Decide(packs, o, now, nil)
		var out []string
		for _, p := range d.Kept {
			out = append(out, p.Name)
		}
		if len(out)+len(d.Delete) != len(packs) {
			t.Fatalf("%+v: kept %d + dropped %d of %d packs", o, len(out), len(d.Delete), len(packs))
		}
		return out
	}
	for _, c := range []struct {
		o    prune.Options
		want []string
	}{
		{prune.Options{KeepWeekly: 3}, []string{"1205_12", "1128_09", "1120_09"}},
		{prune.Options{KeepMonthly: 3}, []string{"1205_12", "1128_09", "1031_09"}},
		{prune.Options{KeepMonthly: 12}, []string{"1205_12", "1128_09", "1031_09", "0930_09", "0815_09"}},
		{prune.Options{Keep: 2, KeepWeekly: 2, KeepMonthly: 2}, []string{"1205_12", "1204_09", "1128_09"}},
		{prune.Options{Keep: 2, KeepWeekly: 3, KeepMonthly: 3}, []string{"1205_12", "1204_09", "1128_09", "1120_09", "1031_09"}},
		{prune.Options{KeepDaily: 2, KeepWeekly: 1}, []string{"1205_12", "1204_09"}},
	} {
		if got := kept(c.o); !slices.Equal(got, c.want) {
			t.Errorf("keep last %d, daily %d, weekly %d, monthly %d: kept %v, want %v", c.o.Keep, c.o.KeepDaily, c.o.KeepWeekly, c.o.KeepMonthly, got, c.want)
		}
	}
}
