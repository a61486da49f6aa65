package prune

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

// hasStore reports whether target holds a pack store.
func hasStore(target string) bool {
	_, err := os.Stat(filepath.Join(target, filepath.FromSlash(store.ConfigKey)))
	return err == nil
}

// storePrune is a prune's hold on the target's store: the exclusive lease,
// taken before anything is decided so that no backup adds data meanwhile.
type storePrune struct {
	b    *local.Backend
	st   *store.Store
	lock *store.Lock
}

// lockStore takes the store's exclusive lease (waiting up to LockWait):
// while a backup holds its shared lease, prune waits or is refused naming
// it. No store in the target: nil.
func (o Options) lockStore(ctx context.Context) (*storePrune, error) {
	if o.DryRun || !hasStore(o.Target) {
		return nil, nil
	}
	id := o.Owner
	if id.Token == "" {
		id = owner.Self("")
	}
	b, err := local.Open(ctx, local.Options{Dir: o.Target, Owner: id.Token})
	if err != nil {
		return nil, err
	}
	sp := &storePrune{b: b}
	if sp.st, err = store.Open(ctx, b, store.Options{}); err != nil {
		b.Close()
		return nil, err
	}
	if sp.lock, err = store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: id, Purpose: "prune", Wait: o.LockWait}); err != nil {
		sp.st.Close()
		b.Close()
		return nil, err
	}
	return sp, nil
}

func (sp *storePrune) close(ctx context.Context) {
	if sp == nil {
		return
	}
	_ = sp.lock.Release(context.WithoutCancel(ctx))
	sp.st.Close()
	sp.b.Close()
}

// collect removes from the store every blob no remaining store pack uses
// (GC). It is skipped while a pack that may use the store cannot be read
// (an invalid pack, or one made by a newer dockpack): its data is kept.
func (sp *storePrune) collect(ctx context.Context, o Options, res *Result) error {
	if sp == nil {
		return nil
	}
	packs, err := pack.List(ctx, o.Target)
	if err != nil {
		return err
	}
	used := map[store.ID]bool{}
	for _, p := range packs {
		switch {
		case p.Status == pack.StatusInvalid:
			res.GCSkipped = fmt.Sprintf("the pack %s cannot be read (%s): the data it may use is kept", p.Name, p.Problem)
			return nil
		case p.Status != pack.StatusComplete || p.Format != pack.FormatStore:
			continue
		}
		u, err := pack.UsedBlobs(ctx, p.Path)
		if err != nil {
			res.GCSkipped = fmt.Sprintf("the chunk lists of %s cannot be read (%v): the data it may use is kept", p.Name, err)
			return nil
		}
		for id := range u {
			used[id] = true
		}
	}
	// The lease is renewed in the background; check it before deleting.
	if err := sp.lock.Held(ctx); err != nil {
		return err
	}
	gc, err := sp.st.GC(ctx, func(id store.ID) bool { return used[id] })
	res.GC = &gc
	if err != nil {
		return fmt.Errorf("store garbage collection: %w", err)
	}
	if n, err := sp.b.AbortStale(ctx, func(string) bool { return true }); n > 0 || err != nil {
		o.Logger.Info("prune: removed dead writers' uploads from the store", zap.Int("uploads", n), zap.Error(err))
	}
	if len(gc.Missing) > 0 {
		return fmt.Errorf("store: %d chunks that remaining packs use are missing (verify names the packs): %w", len(gc.Missing), store.ErrDamaged)
	}
	o.Logger.Info("prune: store collected", zap.Int("bundles_deleted", gc.BundlesDeleted), zap.Int("bundles_repacked", gc.BundlesRepacked),
		zap.Int64("bytes_deleted", gc.BytesDeleted), zap.Int64("bytes_written", gc.BytesWritten))
	return nil
}

// keepByPeriod marks the newest pack of each of the last n periods (days,
// weeks, months: key names the period of a time) among complete packs
// (newest first).
func keepByPeriod(complete []pack.Info, n int, key func(time.Time) string, keep map[string]bool) {
	seen := map[string]bool{}
	for _, p := range complete {
		if len(seen) >= n {
			return
		}
		k := key(p.CreatedAt.UTC())
		if seen[k] {
			continue
		}
		seen[k] = true
		keep[p.Name] = true
	}
}

// policyKeeps names the complete packs the retention policy keeps: the
// Keep newest, and the newest of each of the last KeepDaily days,
// KeepWeekly ISO weeks and KeepMonthly months. ok is false when no count
// is set (no count limit).
func (o Options) policyKeeps(complete []pack.Info) (keep map[string]bool, ok bool) {
	if o.Keep <= 0 && o.KeepDaily <= 0 && o.KeepWeekly <= 0 && o.KeepMonthly <= 0 {
		return nil, false
	}
	keep = map[string]bool{}
	for i, p := range complete {
		if i < o.Keep {
			keep[p.Name] = true
		}
	}
	keepByPeriod(complete, o.KeepDaily, func(t time.Time) string { return t.Format("2006-01-02") }, keep)
	keepByPeriod(complete, o.KeepWeekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) }, keep)
	keepByPeriod(complete, o.KeepMonthly, func(t time.Time) string { return t.Format("2006-01") }, keep)
	return keep, true
}
