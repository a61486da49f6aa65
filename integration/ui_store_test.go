//go:build integration

package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
)

// The history of a daemon that writes store packs shows, for each job, what
// it added to the pack store and what the store already held — the numbers
// of the job's record — and the second backup of an unchanged stack adds a
// fraction of what it reuses.
func TestUIHistoryStoreBytes(t *testing.T) {
	b := uiNewBrowser(t)
	s := dmNewStack(t, 4<<20)
	target := MustTmpfs(t, 128<<20)
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s, noSched: true, args: []string{"--pack-format", "store"}})
	var want []jobs.Job
	for range 2 {
		j := d.waitEnded(d.start().ID, 2*time.Minute)
		if j.Status != jobs.StatusCompleted || j.Store == nil {
			t.Fatalf("store backup: %s, store stats %v", dmJobString(j), j.Store)
		}
		want = append(want, j)
	}
	p := b.tab(d)
	p.open(dmToken)
	p.waitReady("now")
	p.view("history")
	var rows []struct {
		Job    int64  `json:"job"`
		New    int64  `json:"new"`
		Reused int64  `json:"reused"`
		Text   string `json:"text"`
	}
	p.eval(`[...document.querySelectorAll('#jobs-table tr[data-job]')].map(tr => { const s = tr.querySelector('.store-bytes');
		return {job: +tr.dataset.job, new: s ? +s.dataset.new : -1, reused: s ? +s.dataset.reused : -1, text: s ? s.textContent : ''}; })`, &rows)
	shown := map[int64]int{}
	for i, r := range rows {
		shown[r.Job] = i
	}
	for _, j := range want {
		i, ok := shown[j.ID]
		if !ok {
			t.Fatalf("job %d not in the history: %+v", j.ID, rows)
		}
		r, tot := rows[i], j.Store.Total()
		if r.New != tot.NewBytes || r.Reused != tot.ReusedRawBytes || !strings.Contains(r.Text, "new") || !strings.Contains(r.Text, "reused") {
			t.Errorf("job %d shows new %d reused %d (%q); its record: new %d reused %d", j.ID, r.New, r.Reused, r.Text, tot.NewBytes, tot.ReusedRawBytes)
		}
		t.Logf("job %d: %s (record: read %d, new %d, reused %d)", j.ID, r.Text, tot.ReadBytes, tot.NewBytes, tot.ReusedRawBytes)
	}
	first, second := want[0].Store.Total(), want[1].Store.Total()
	if first.NewBytes == 0 || second.ReusedRawBytes == 0 || second.NewBytes*10 > second.ReusedRawBytes {
		t.Errorf("unchanged re-backup: first added %d; second added %d and reused %d", first.NewBytes, second.NewBytes, second.ReusedRawBytes)
	}
	p.shot("ui-history-store")
	p.assertClean()
}
