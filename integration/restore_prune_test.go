//go:build integration

package integration_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
)

// TestRestorePrune: prune keeps the newest N, never deletes the newest
// complete pack, removes an old idle partial directory, and deletes nothing
// while the newest pack fails verification (unless forced) — library and CLI.
func TestRestorePrune(t *testing.T) {
	s := rsSmallStack(t)
	eng := MustEngine(t)
	target := MustTmpfs(t, 128<<20)
	var packs []*backup.Result
	for range 3 {
		packs = append(packs, rsBackup(t, eng, s.project, target, "", pack.ComponentVolumes))
	}
	ts := strings.Replace(time.Now().Add(-48*time.Hour).UTC().Format(pack.TimeLayout), ".", "_", 1)
	partial := filepath.Join(target, pack.PartialPrefix+ts)
	if err := os.MkdirAll(filepath.Join(partial, "volumes"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * time.Hour)
	os.Chtimes(filepath.Join(partial, "volumes"), old, old)
	os.Chtimes(partial, old, old)
	names := func(ps []pack.Info) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}

	res, err := prune.Run(MustCtx(t), prune.Options{Target: target, Project: s.project, Keep: 2, PartialOlderThan: 24 * time.Hour, LiveWithin: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(res.Deleted), []string{filepath.Base(partial), packs[0].Name}; !slices.Equal(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	if got, want := names(res.Kept), []string{packs[1].Name, packs[2].Name}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if res.Newest == nil || !res.Newest.OK || res.Newest.Pack != packs[2].Pack {
		t.Fatalf("newest check %+v", res.Newest)
	}

	// CLI dry run.
	code, out, errOut := rsCLI(t, "prune", "--target", target, "--project", s.project, "--keep", "1", "--dry-run")
	if code != 0 || !strings.Contains(out, "would delete  "+packs[1].Name) {
		t.Fatalf("dockpack prune --dry-run: exit %d\n%s%s", code, out, errOut)
	}

	// The newest pack broken: nothing is deleted.
	newestTar := filepath.Join(packs[2].Pack, "volumes", s.volume+".tar")
	if err := os.Truncate(newestTar, 1024); err != nil {
		t.Fatal(err)
	}
	res, err = prune.Run(MustCtx(t), prune.Options{Target: target, Project: s.project, Keep: 1})
	if !errors.Is(err, prune.ErrRefused) || len(res.Deleted) != 0 || !res.Refused || !strings.Contains(err.Error(), "volumes/"+s.volume+".tar") {
		t.Fatalf("prune with a broken newest pack: %+v %v", res, err)
	}
	t.Logf("refusal: %v", err)
	code, out, errOut = rsCLI(t, "prune", "--target", target, "--project", s.project, "--keep", "1")
	if code != 4 || !strings.Contains(errOut, "volumes/"+s.volume+".tar") || !strings.Contains(out, "NOT deleted") {
		t.Fatalf("dockpack prune with a broken newest pack: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range packs[1:] {
		if _, err := os.Stat(p.Pack); err != nil {
			t.Fatalf("%s deleted by a refused prune", p.Name)
		}
	}
	code, out, errOut = rsCLI(t, "packs", "--target", target, "--json")
	var listed struct {
		Packs []pack.Info `json:"packs"`
	}
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed.Packs) != 2 || listed.Packs[0].Name != packs[2].Name ||
		listed.Packs[0].Status != pack.StatusComplete || listed.Packs[0].Project != s.project {
		t.Fatalf("dockpack packs --json: exit %d %v\n%s%s", code, err, out, errOut)
	}

	// Forced: the older one goes, the newest complete pack (broken or not) stays.
	code, out, errOut = rsCLI(t, "prune", "--target", target, "--project", s.project, "--keep", "1", "--force")
	if code != 0 {
		t.Fatalf("dockpack prune --force: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(packs[1].Pack); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("--force did not delete the older pack")
	}
	if _, err := os.Stat(packs[2].Pack); err != nil {
		t.Fatal("the newest complete pack was deleted")
	}
	// Age limit: a fresh good pack, and every older one is past a one-second age —
	// only the newest complete pack stays.
	time.Sleep(1100 * time.Millisecond)
	fresh := rsBackup(t, eng, s.project, target, "", pack.ComponentVolumes)
	code, out, errOut = rsCLI(t, "prune", "--target", target, "--project", s.project, "--max-age", "0d1s")
	if code != 0 {
		t.Fatalf("dockpack prune --max-age: exit %d\n%s%s", code, out, errOut)
	}
	left, _ := pack.List(MustCtx(t), target)
	if len(left) != 1 || left[0].Name != fresh.Name {
		t.Fatalf("after the age limit: %+v", left)
	}
}
