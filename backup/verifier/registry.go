package verifier

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/internal/i18n"
)

// registry holds the verifications: the running one and the last keep
// finished ones, oldest first.
type registry struct {
	mu   sync.Mutex
	runs []*run
}

// add records a new run and forgets the oldest finished ones beyond keep.
func (g *registry) add(r *run) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.runs = append(g.runs, r)
	finished := 0
	for i := len(g.runs) - 1; i >= 0; i-- {
		if g.runs[i].status().Active() {
			continue
		}
		if finished++; finished > keep {
			g.runs = slices.Delete(g.runs, i, i+1)
		}
	}
}

func (g *registry) get(id string) (*run, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.runs {
		if r.v.ID == id { // the id never changes: no need for r.mu
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w: no verification %q in this daemon (finished ones are kept until %d newer ones ended, or until a restart)",
		ErrNotFound, id, keep)
}

// Get returns one verification (ErrNotFound when unknown).
func (vf *Verifier) Get(ctx context.Context, id string) (Verification, error) {
	r, err := vf.reg.get(id)
	if err != nil {
		return Verification{}, err
	}
	v, _ := r.snapshot()
	return v, nil
}

// List returns this process's verifications, newest first: the running
// one and the last finished ones.
func (vf *Verifier) List(ctx context.Context) ([]Verification, error) {
	vf.reg.mu.Lock()
	runs := slices.Clone(vf.reg.runs)
	vf.reg.mu.Unlock()
	out := make([]Verification, 0, len(runs))
	for i := len(runs) - 1; i >= 0; i-- {
		v, _ := runs[i].snapshot()
		v.Log = nil          // the list is a summary; Get has the log
		if v.Result != nil { // the list is a summary: the checks, not the manifest
			res := *v.Result
			res.Manifest = nil
			v.Result = &res
		}
		out = append(out, v)
	}
	return out, nil
}

// Cancel asks a running verification to stop and returns it (canceling,
// then canceled once pack.Verify returned). A verification that already
// ended is returned unchanged.
func (vf *Verifier) Cancel(ctx context.Context, id, reason string) (Verification, error) {
	r, err := vf.reg.get(id)
	if err != nil {
		return Verification{}, err
	}
	if reason == "" {
		reason = "canceled by request"
	}
	var cancel bool
	r.update(func(v *Verification) {
		if v.Status != jobs.StatusRunning {
			return
		}
		cancel, v.Status = true, jobs.StatusCanceling
		r.logLocked(v, "warn", i18n.T(v.Lang, "verifyjob.cancel_requested", reason))
	})
	if cancel {
		r.cancel(fmt.Errorf("%w: %s", context.Canceled, reason))
		vf.log.Info("pack verification cancel requested", zap.String("verification", id), zap.String("reason", reason))
	}
	v, _ := r.snapshot()
	return v, nil
}

// Watch delivers a verification's state: at once, then at every change,
// the last one ended (after which the channel is closed); it is also
// closed when ctx ends. A slow reader skips states, never the last.
func (vf *Verifier) Watch(ctx context.Context, id string) (<-chan Verification, error) {
	r, err := vf.reg.get(id)
	if err != nil {
		return nil, err
	}
	out := make(chan Verification)
	go func() {
		defer close(out)
		for {
			v, changed := r.snapshot()
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
			if !v.Status.Active() {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
