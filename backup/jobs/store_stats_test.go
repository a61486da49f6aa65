package jobs_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
)

// A store backup's bytes read/new/reused per component are kept with its
// job (the state DB) and served in its JSON; a classic job has none.
func TestJobStoreStats(t *testing.T) {
	ctx := context.Background()
	stats := backup.StoreStats{
		"db":      {ReadBytes: 100, NewRawBytes: 10, NewBytes: 8, NewBlobs: 1, ReusedRawBytes: 90, ReusedBlobs: 1},
		"volumes": {ReadBytes: 5000, NewRawBytes: 0, ReusedRawBytes: 5000, ReusedBlobs: 3},
	}
	var classic bool
	run := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		res, err := quickRun(ctx, spec, p)
		if err == nil && !classic {
			res.Store = stats
		}
		return res, err
	}
	m := backuptest.MustManager(t, jobs.Config{Run: run})
	j, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	got := MustJobEnded(t, m, j.ID)
	if got.Status != jobs.StatusCompleted || !reflect.DeepEqual(got.Store, stats) {
		t.Fatalf("job %s: store %+v, want %+v", got.Status, got.Store, stats)
	}
	b, _ := json.Marshal(got)
	if !strings.Contains(string(b), `"store":{"db":{"read_bytes":100,"new_raw_bytes":10,"new_bytes":8`) {
		t.Fatalf("job JSON: %s", b)
	}
	classic = true
	j2, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	got2 := MustJobEnded(t, m, j2.ID)
	if b, _ := json.Marshal(got2); got2.Store != nil || strings.Contains(string(b), `"store"`) {
		t.Fatalf("a classic job has store stats: %s", b)
	}
}
