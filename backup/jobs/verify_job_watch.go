package jobs

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"weak"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/internal/i18n"
)

// verifyRegistry holds a Manager's verifications: the running one and the
// last verifyKeep finished ones, oldest first.
type verifyRegistry struct {
	mu   sync.Mutex
	runs []*verifyRun
}

// registries maps a Manager (weakly: a closed, unreachable Manager's
// registry goes with it) to its verifications.
var registries sync.Map // weak.Pointer[Manager] → *verifyRegistry

func (m *Manager) verifyRegistry() *verifyRegistry {
	k := weak.Make(m)
	if r, ok := registries.Load(k); ok {
		return r.(*verifyRegistry)
	}
	r, loaded := registries.LoadOrStore(k, &verifyRegistry{})
	if !loaded {
		runtime.AddCleanup(m, func(k weak.Pointer[Manager]) { registries.Delete(k) }, k)
	}
	return r.(*verifyRegistry)
}

// add records a new run and forgets the oldest finished ones beyond verifyKeep.
func (g *verifyRegistry) add(r *verifyRun) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.runs = append(g.runs, r)
	finished := 0
	for i := len(g.runs) - 1; i >= 0; i-- {
		if g.runs[i].status().Active() {
			continue
		}
		if finished++; finished > verifyKeep {
			g.runs = slices.Delete(g.runs, i, i+1)
		}
	}
}

// status is the run's status.
func (r *verifyRun) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.v.Status
}

func (g *verifyRegistry) get(id string) (*verifyRun, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.runs {
		if r.v.ID == id { // the id never changes: no need for r.mu
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w: no verification %q in this daemon (finished ones are kept until %d newer ones ended, or until a restart)",
		ErrVerificationNotFound, id, verifyKeep)
}

// Verification returns one verification (ErrVerificationNotFound when unknown).
func (m *Manager) Verification(ctx context.Context, id string) (Verification, error) {
	r, err := m.verifyRegistry().get(id)
	if err != nil {
		return Verification{}, err
	}
	v, _ := r.snapshot()
	return v, nil
}

// Verifications returns this process's verifications, newest first: the
// running one and the last finished ones.
func (m *Manager) Verifications(ctx context.Context) ([]Verification, error) {
	g := m.verifyRegistry()
	g.mu.Lock()
	runs := slices.Clone(g.runs)
	g.mu.Unlock()
	out := make([]Verification, 0, len(runs))
	for i := len(runs) - 1; i >= 0; i-- {
		v, _ := runs[i].snapshot()
		v.Log = nil          // the list is a summary; Verification has the log
		if v.Result != nil { // the list is a summary: the checks, not the manifest
			res := *v.Result
			res.Manifest = nil
			v.Result = &res
		}
		out = append(out, v)
	}
	return out, nil
}

// CancelVerify asks a running verification to stop and returns it
// (canceling, then canceled once pack.Verify returned). A verification that
// already ended is returned unchanged.
func (m *Manager) CancelVerify(ctx context.Context, id, reason string) (Verification, error) {
	r, err := m.verifyRegistry().get(id)
	if err != nil {
		return Verification{}, err
	}
	if reason == "" {
		reason = "canceled by request"
	}
	var cancel bool
	r.update(func(v *Verification) {
		if v.Status != StatusRunning {
			return
		}
		cancel, v.Status = true, StatusCanceling
		r.logLocked(v, "warn", i18n.T(v.Lang, "verifyjob.cancel_requested", reason))
	})
	if cancel {
		r.cancel(fmt.Errorf("%w: %s", context.Canceled, reason))
		m.log.Info("pack verification cancel requested", zap.String("verification", id), zap.String("reason", reason))
	}
	v, _ := r.snapshot()
	return v, nil
}

// WatchVerify delivers a verification's state: at once, then at every
// change, the last one ended (after which the channel is closed); it is
// also closed when ctx ends. A slow reader skips states, never the last.
func (m *Manager) WatchVerify(ctx context.Context, id string) (<-chan Verification, error) {
	r, err := m.verifyRegistry().get(id)
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
