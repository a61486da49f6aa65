package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
)

// Classic (format 1) and store (format 2) packs in one target: listed
// with their formats, each verifies, prune counts them together and
// deletes a classic one and a store one, its garbage collection keeps
// exactly the data of the store pack that stays; when none stays, the
// store keeps nothing, and the classic pack that stays still verifies.
func TestMixedTargetClassicAndStore(t *testing.T) {
	ctx := context.Background()
	eng := backuptest.NewEngine()
	for _, v := range []string{"demo_data", "shared"} { // volume tars (the fake's are not): a classic pack's verify walks them
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		body := bytes.Repeat([]byte(v), 1000)
		tw.WriteHeader(&tar.Header{Name: "data.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
		tw.Close()
		eng.VolData[v] = buf.Bytes()
	}
	spec := backuptest.MustSpec(t, eng)
	spec.Components = []pack.Component{pack.ComponentDB, pack.ComponentVolumes}
	var names []string
	for _, f := range []string{backup.FormatClassic, backup.FormatStore, backup.FormatClassic, backup.FormatStore, backup.FormatClassic} {
		spec.Format = f
		res, err := backup.Run(ctx, spec, nil)
		if err != nil {
			t.Fatalf("%s backup: %v", f, err)
		}
		names = append(names, res.Name)
		time.Sleep(2 * time.Millisecond) // pack names are times
	}
	packs, err := pack.List(ctx, spec.Target)
	if err != nil || len(packs) != 5 {
		t.Fatalf("list: %d packs, %v", len(packs), err)
	}
	for i, p := range packs { // newest first: classic, store, classic, store, classic
		want := []int{pack.FormatVersion, pack.FormatStore}[i%2]
		if p.Status != pack.StatusComplete || p.Format != want || p.Name != names[4-i] {
			t.Fatalf("pack %d: %s %s format %d, want %s format %d", i, p.Name, p.Status, p.Format, names[4-i], want)
		}
		if _, err := pack.Verify(ctx, p.Path, pack.VerifyOptions{StagingDir: t.TempDir()}); err != nil {
			t.Fatalf("verify %s (format %d): %v", p.Name, p.Format, err)
		}
	}
	blobs := func() int {
		b, err := local.Open(ctx, local.Options{Dir: spec.Target})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		st, err := store.Open(ctx, b, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		cr, err := st.Check(ctx, store.CheckOptions{ReadData: true})
		if err != nil || len(cr.Damaged) > 0 || cr.Unindexed > 0 {
			t.Fatalf("store check: %+v %v", cr, err)
		}
		return cr.Blobs
	}
	// Keep 3: the newest classic, store, classic; the oldest store and classic go.
	res, err := prune.Run(ctx, prune.Options{Target: spec.Target, Project: "demo", Keep: 3})
	if err != nil || len(res.Deleted) != 2 || res.GC == nil || res.GCSkipped != "" {
		t.Fatalf("prune --keep 3: %v %+v", err, res)
	}
	used, err := pack.UsedBlobs(ctx, packs[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	if n := blobs(); n != len(used) {
		t.Fatalf("after prune the store holds %d blobs, the store pack that stays uses %d", n, len(used))
	}
	// Keep 1: only a classic pack stays; the store keeps no data.
	if res, err := prune.Run(ctx, prune.Options{Target: spec.Target, Project: "demo", Keep: 1}); err != nil || len(res.Deleted) != 2 {
		t.Fatalf("prune --keep 1: %v %+v", err, res)
	}
	if n := blobs(); n != 0 {
		t.Fatalf("no store pack stays, the store holds %d blobs", n)
	}
	left, _ := pack.List(ctx, spec.Target)
	if len(left) != 1 || left[0].Name != names[4] || left[0].Format != pack.FormatVersion {
		t.Fatalf("left: %+v", left)
	}
	if _, err := pack.Verify(ctx, left[0].Path, pack.VerifyOptions{StagingDir: t.TempDir()}); err != nil {
		t.Fatalf("the classic pack that stays: %v", err)
	}
}
