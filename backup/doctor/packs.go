package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/bounded"
)

// packs lists the packs in the target: the newest complete one, invalid
// ones, and .partial-* directories — young ones are a backup in progress,
// old ones the leftovers of a crash.
func (d *doctor) packs(ctx context.Context) precheck.Result {
	b := d.begin(CheckPacks)
	if d.o.Target == "" {
		b.Skip("precheck.target.skip")
		return b.Result()
	}
	packs, err := bounded.Call(ctx, d.o.CheckTimeout, "listing the packs in "+d.o.Target, func() ([]pack.Info, error) { return d.listPacks(ctx) })
	switch {
	case errors.Is(err, os.ErrNotExist):
		b.Raise(check.Warn, "no_pack", d.p.T("doctor.packs.no_target", d.o.Target), d.p.T("doctor.packs.none.fix"))
		return b.Result()
	case err != nil:
		b.Fail(err, "target_probe_failed", d.p.T("doctor.packs.unreadable", d.o.Target), d.p.T("doctor.packs.unreadable.fix"))
		return b.Result()
	}
	var complete, invalid, stale, young []pack.Info
	for _, p := range packs {
		switch p.Status {
		case pack.StatusComplete:
			complete = append(complete, p)
		case pack.StatusInvalid:
			invalid = append(invalid, p)
		case pack.StatusPartial:
			if p.CreatedAt.IsZero() || d.now.Sub(p.CreatedAt) >= d.o.PartialStaleAfter {
				stale = append(stale, p)
			} else {
				young = append(young, p)
			}
		}
	}
	d.packsComplete(b, complete)
	for _, p := range young {
		b.Evidence("partial", fmt.Sprintf("%s  %s  %s (%s)", p.Name, precheck.Bytes(p.Size), d.ago(p.CreatedAt), d.p.T("doctor.packs.in_progress")))
	}
	for _, p := range invalid {
		b.Evidence("invalid", fmt.Sprintf("%s: %s", p.Name, p.Problem))
	}
	if len(invalid) > 0 {
		b.Raise(check.Warn, "invalid_pack", d.p.T("doctor.packs.invalid", len(invalid)), d.p.T("doctor.packs.invalid.fix"))
	}
	for _, p := range stale {
		b.Evidence("stale_partial", fmt.Sprintf("%s  %s  %s", p.Name, precheck.Bytes(p.Size), d.ago(p.CreatedAt)))
	}
	if len(stale) > 0 {
		b.Raise(check.Warn, "stale_partial", d.p.T("doctor.packs.stale", len(stale), precheck.Duration(d.o.PartialStaleAfter)),
			d.p.T("doctor.packs.stale.fix", filepath.Join(d.o.Target, pack.PartialPrefix+"*")))
	}
	return b.Result()
}

// packsComplete counts the complete packs and names the newest (warns when there is none).
func (d *doctor) packsComplete(b *precheck.Builder, complete []pack.Info) {
	b.Evidence("complete", strconv.Itoa(len(complete)))
	if len(complete) == 0 {
		b.Raise(check.Warn, "no_pack", d.p.T("doctor.packs.none", d.o.Target), d.p.T("doctor.packs.none.fix"))
		return
	}
	n := complete[0]
	b.Evidence("newest", fmt.Sprintf("%s  project=%s  %s  %s (%s)", n.Name, n.Project, precheck.Bytes(n.Size), precheck.When(n.CreatedAt), d.ago(n.CreatedAt)))
	b.OK("doctor.packs.ok", len(complete), n.Name, precheck.Duration(d.now.Sub(n.CreatedAt)))
}

// ago says how long ago t was ("? ago" when unknown).
func (d *doctor) ago(t time.Time) string {
	if t.IsZero() {
		return d.p.T("doctor.ago", "?")
	}
	return d.p.T("doctor.ago", precheck.Duration(d.now.Sub(t)))
}
