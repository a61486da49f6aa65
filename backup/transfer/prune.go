package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
)

// PartialsPrefix holds the owner records of packs being written to a
// target without a rename (backup.RemotePartialsPrefix: the same key).
const PartialsPrefix = ".dockpack/partials/"

// Prune deletes old packs from a target reached through its backend (object
// storage), with prune.Run's rules and result: the retention policy is
// prune.Decide's; a target with a pack store is held under the store's
// exclusive lease from before the decision to after the garbage
// collection (a store backup on any host holding its shared lease makes it
// wait up to LockWait or refuse, naming the holder); nothing is deleted
// while the project's newest pack fails the structural check (its
// manifest, SHA256SUMS, each file's object and size — a store pack's
// chunk lists by sha256 and every chunk in the store's index) unless
// Force. A pack is deleted manifest first (so it is never seen complete
// and half-deleted), then its other objects; a partial pack only when no
// owner record names it (its writer committed, aborted or was recovered)
// and it is older than PartialOlderThan. o.Target is only for messages.
func Prune(ctx context.Context, b storage.Backend, o prune.Options) (prune.Result, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Target == "" {
		o.Target = b.Location()
	}
	if err := o.Validate(); err != nil {
		return prune.Result{}, err
	}
	var (
		st   *store.Store
		lock *store.Lock
	)
	if has, err := store.Exists(ctx, b); err != nil {
		return prune.Result{}, fmt.Errorf("prune %s: %w", o.Target, err)
	} else if has && !o.DryRun {
		id := o.Owner
		if id.Token == "" {
			id = owner.Self("")
		}
		if st, err = store.Open(ctx, b, store.Options{}); err != nil {
			return prune.Result{}, fmt.Errorf("prune %s: %w", o.Target, err)
		}
		defer st.Close()
		if lock, err = store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: id, Purpose: "prune", Wait: o.LockWait}); err != nil {
			return prune.Result{}, fmt.Errorf("prune %s: %w", o.Target, err)
		}
		defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
		if err := st.LoadIndex(ctx); err != nil {
			return prune.Result{}, fmt.Errorf("prune %s: %w", o.Target, err)
		}
	}
	packs, err := List(ctx, b)
	if err != nil {
		return prune.Result{}, err
	}
	recorded, err := partialRecords(ctx, b)
	if err != nil {
		return prune.Result{}, err
	}
	d := prune.Decide(packs, o, o.Now(), func(p pack.Info) bool { return recorded[p.Name] })
	res := prune.Result{Deleted: []pack.Info{}, Kept: d.Kept, Reasons: d.Reasons}
	if len(d.Delete) > 0 {
		if err := gateRemote(ctx, b, st, packs, d, o, &res); err != nil {
			return res, err
		}
	}
	errs := deleteDoomed(ctx, b, d, o, &res)
	if st != nil && len(errs) == 0 {
		if err := collect(ctx, b, st, lock, o, &res); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("prune %s: %w", o.Target, errors.Join(errs...))
	}
	return res, nil
}

// deleteDoomed deletes (or, dry, lists) the packs d deletes, oldest first,
// into res.Deleted; it goes on after a pack it cannot delete and returns
// the errors.
func deleteDoomed(ctx context.Context, b storage.Backend, d prune.Decision, o prune.Options, res *prune.Result) []error {
	doomed := slices.Clone(d.Delete)
	slices.SortStableFunc(doomed, func(a, b pack.Info) int { return a.CreatedAt.Compare(b.CreatedAt) })
	var errs []error
	for _, p := range doomed {
		if err := ctx.Err(); err != nil {
			return append(errs, err)
		}
		why := zap.String("why", d.Reasons[p.Name].Text(i18n.English))
		if o.DryRun {
			o.Logger.Info("prune: would delete", zap.String("pack", p.Path), why)
			res.Deleted = append(res.Deleted, p)
			continue
		}
		if err := removePack(ctx, b, p.Name); err != nil {
			errs = append(errs, err)
			o.Logger.Error("prune: cannot delete", zap.String("pack", p.Path), zap.Error(err))
			continue
		}
		o.Logger.Info("prune: deleted", zap.String("pack", p.Path), why)
		res.Deleted = append(res.Deleted, p)
	}
	return errs
}

// partialRecords names the packs an owner record says are being written.
func partialRecords(ctx context.Context, b storage.Backend) (map[string]bool, error) {
	out := map[string]bool{}
	err := b.List(ctx, PartialsPrefix, func(in storage.Info) error {
		data, err := storage.ReadObject(ctx, b, in.Key, 1<<20)
		if err != nil {
			return nil
		}
		var rec struct {
			Final string `json:"final"`
		}
		if json.Unmarshal(data, &rec) == nil && rec.Final != "" {
			out[rec.Final] = true
		}
		return nil
	})
	return out, err
}

// removePack deletes a pack's manifest, then its other objects.
func removePack(ctx context.Context, b storage.Backend, name string) error {
	if err := b.Remove(ctx, name+"/"+pack.ManifestFile); err != nil {
		return err
	}
	var keys []string
	if err := b.List(ctx, name+"/", func(in storage.Info) error { keys = append(keys, in.Key); return nil }); err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if err := b.Remove(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// gateRemote checks the project's newest pack before anything is deleted.
func gateRemote(ctx context.Context, b storage.Backend, st *store.Store, packs []pack.Info, d prune.Decision, o prune.Options, res *prune.Result) error {
	var newest *pack.Info
	for i, p := range packs { // newest first
		if p.Status == pack.StatusPartial || (o.Project != "" && p.Status == pack.StatusComplete && p.Project != o.Project) {
			continue
		}
		newest = &packs[i]
		break
	}
	if newest == nil {
		return nil
	}
	verr := CheckStructure(ctx, b, st, newest.Name)
	if verr == nil {
		return nil
	}
	if o.Force {
		o.Logger.Warn("prune forced although the newest pack fails its check", zap.String("pack", newest.Path), zap.Error(verr))
		return nil
	}
	res.Refused, res.Blocked = true, d.Delete
	return fmt.Errorf("%w: %s deletes nothing: the newest pack %s fails its check, so the older packs may be the only good ones (check it with `dockpack verify`, or force the prune): %w: %w",
		prune.ErrRefused, o.Target, newest.Name, pack.ErrVerify, verr)
}

// CheckStructure is the cheap check of a pack in b: the manifest parses,
// SHA256SUMS agrees with it, every file's object exists with its size (a
// store pack: every chunk list reads back with its sha256 and, with st,
// each chunk is in the store's index).
func CheckStructure(ctx context.Context, b storage.Backend, st *store.Store, name string) error {
	_, m, files, err := sourcePack(ctx, b, name)
	if err != nil {
		return err
	}
	if m.Store != nil {
		lists, used, err := storeFiles(ctx, b, name, m)
		if err != nil {
			return err
		}
		files = append(files, lists...)
		if st != nil {
			var missing []string
			for id := range used {
				if _, ok := st.Index().Lookup(id); !ok {
					missing = append(missing, id.String())
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%w: %s: %d chunks are in no bundle of the store's index (%s…)", ErrSource, name, len(missing), missing[0])
			}
		}
	}
	for _, f := range files {
		info, err := b.Stat(ctx, name+"/"+f.path)
		if err != nil {
			return fmt.Errorf("%w: %s/%s: %w", ErrSource, name, f.path, err)
		}
		if info.Size != f.size {
			return fmt.Errorf("%w: %s/%s has %d bytes, the manifest says %d", ErrSource, name, f.path, info.Size, f.size)
		}
	}
	return nil
}

// collect removes every blob no remaining store pack uses (skipped, as
// prune.Run does, while a pack that may use the store cannot be read).
func collect(ctx context.Context, b storage.Backend, st *store.Store, lock *store.Lock, o prune.Options, res *prune.Result) error {
	packs, err := List(ctx, b)
	if err != nil {
		return err
	}
	used := map[store.ID]bool{}
	for _, p := range packs {
		switch {
		case p.Status == pack.StatusInvalid:
			res.GCSkipped = fmt.Sprintf("the pack %s cannot be read (%s): the data it may use is kept", p.Name, p.Problem)
			return nil
		case p.Status == pack.StatusPartial:
			// A partial store pack's writer holds the shared lease, which
			// the exclusive one excludes: what it wrote is a dead
			// writer's and unreferenced.
			continue
		case p.Format != pack.FormatStore:
			continue
		}
		m, _, err := ReadManifest(ctx, b, p.Name)
		if err == nil {
			var u map[store.ID]bool
			if _, u, err = storeFiles(ctx, b, p.Name, m); err == nil {
				for id := range u {
					used[id] = true
				}
				continue
			}
		}
		res.GCSkipped = fmt.Sprintf("the chunk lists of %s cannot be read (%v): the data it may use is kept", p.Name, err)
		return nil
	}
	if err := lock.Held(ctx); err != nil {
		return err
	}
	gc, err := st.GC(ctx, func(id store.ID) bool { return used[id] })
	res.GC = &gc
	if err != nil {
		return fmt.Errorf("store garbage collection: %w", err)
	}
	if len(gc.Missing) > 0 {
		return fmt.Errorf("store: %d chunks that remaining packs use are missing (verify names the packs): %w", len(gc.Missing), store.ErrDamaged)
	}
	o.Logger.Info("prune: store collected", zap.Int("bundles_deleted", gc.BundlesDeleted), zap.Int("bundles_repacked", gc.BundlesRepacked),
		zap.Int64("bytes_deleted", gc.BytesDeleted), zap.Int64("bytes_written", gc.BytesWritten))
	return nil
}
