package prune_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/internal/i18n"
)

// info is a pack of a List result created hoursAgo hours before pruneNow.
func info(name string, st pack.Status, project string, hoursAgo int) pack.Info {
	return pack.Info{Name: name, Path: "/t/" + name, Status: st, Project: project, CreatedAt: pruneNow.Add(-time.Duration(hoursAgo) * time.Hour)}
}

func TestDecidePrune(t *testing.T) {
	packs := []pack.Info{ // newest first, as List returns them
		info("p1", pack.StatusPartial, "", 1),
		info("c2", pack.StatusComplete, "demo", 2),
		info("o3", pack.StatusComplete, "other", 3),
		info("c4", pack.StatusComplete, "demo", 4),
		info("x5", pack.StatusInvalid, "", 5),
		info("c6", pack.StatusComplete, "demo", 6),
		info("p30", pack.StatusPartial, "", 30),
		info("c48", pack.StatusComplete, "demo", 48),
		info("p50", pack.StatusPartial, "", 50),
	}
	o := prune.Options{Project: "demo", Keep: 3, MaxAge: 24 * time.Hour, PartialOlderThan: 24 * time.Hour, Protect: []string{"/t/c6"}}
	live := func(p pack.Info) bool { return p.Name == "p30" }
	d := prune.Decide(packs, o, pruneNow, live)
	if got := pruneNames(d.Delete); !slices.Equal(got, []string{"c48", "p50"}) {
		t.Fatalf("delete %v", got)
	}
	if got := pruneNames(d.Kept); !slices.Equal(got, []string{"c2", "c4", "c6"}) {
		t.Fatalf("kept %v", got)
	}
	if r := d.Reasons["c48"]; r.Code != prune.ReasonBeyondKeep || r.Keep != 3 || r.Text(i18n.English) != "beyond the 3 newest" {
		t.Errorf("c48: %+v %q", r, r.Text(i18n.English))
	}
	if r := d.Reasons["p50"]; r.Code != prune.ReasonPartial || r.Text(i18n.English) != "partial, older than 24h0m0s" || !hasHan(r.Text(i18n.Chinese)) {
		t.Errorf("p50: %+v %q", r, r.Text(i18n.Chinese))
	}

	// Age alone; the newest complete pack stays however old.
	d = prune.Decide(packs, prune.Options{Project: "demo", MaxAge: time.Hour}, pruneNow, nil)
	if got := pruneNames(d.Delete); !slices.Equal(got, []string{"c4", "c48", "c6"}) || d.Reasons["c4"].Code != prune.ReasonMaxAge ||
		d.Reasons["c4"].Text(i18n.English) != "older than 1h0m0s" {
		t.Fatalf("age only: %v %+v", got, d.Reasons)
	}
	// No project: every complete pack is one set; partials stay without PartialOlderThan.
	d = prune.Decide(packs, prune.Options{Keep: 1}, pruneNow, nil)
	if got := pruneNames(d.Delete); !slices.Equal(got, []string{"c4", "c48", "c6", "o3"}) {
		t.Fatalf("all projects: %v", got)
	}
	// Nothing to decide on.
	if d := prune.Decide(nil, o, pruneNow, nil); len(d.Delete) != 0 || d.Kept == nil {
		t.Fatalf("empty: %+v", d)
	}
}

func TestPruneReportsReasons(t *testing.T) {
	target := t.TempDir()
	var names []string
	for i := range 3 {
		names = append(names, filepath.Base(backuptest.MustSmallPack(t, target, "demo", pruneNow.Add(-time.Duration(3-i)*time.Hour))))
	}
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 2, DryRun: true,
		Now: func() time.Time { return pruneNow }})
	if err != nil || len(res.Deleted) != 1 || res.Deleted[0].Name != names[0] {
		t.Fatalf("prune: %+v %v", res, err)
	}
	if r, ok := res.Reasons[names[0]]; !ok || r.Code != prune.ReasonBeyondKeep || len(res.Reasons) != 1 {
		t.Fatalf("reasons %+v", res.Reasons)
	}
}

// hasHan reports whether s holds a Chinese character.
func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff })
}
