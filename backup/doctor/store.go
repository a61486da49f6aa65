package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/storage/targets"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/backup/transfer"
)

// CheckStore is the pack store of the target (docs/format.md §3): its
// config readable, its leases (who holds it, stale ones), its index
// consistent with the bundles present and with the store packs' chunk
// lists — the structural check, bounded by the check timeout; no bundle is
// read.
const CheckStore = "store"

// storeNamed is how many bundles or packs a finding names at most.
const storeNamed = 5

// store checks the target's pack store (skipped when the target has none):
// a directory's through its pinned handle, object storage's (s3://…,
// endpoint and credentials from the AWS variables and files) through its
// backend — the same checks, no bundle read.
func (d *doctor) store(ctx context.Context) precheck.Result {
	b := d.begin(CheckStore)
	if d.o.Target == "" {
		b.Skip("precheck.target.skip")
		return b.Result()
	}
	remote := storage.IsS3URL(d.o.Target)
	var bk storage.Backend
	var err error
	if remote {
		bk, _, err = targets.Open(ctx, d.o.Target, targets.Options{S3: d.o.S3})
	} else {
		bk, err = local.Open(ctx, local.Options{Dir: d.o.Target}) // no owner: it cannot write
	}
	if err != nil {
		b.Skip("doctor.store.no_target", d.o.Target)
		return b.Result()
	}
	defer bk.Close()
	if ok, err := store.Exists(ctx, bk); err != nil || !ok {
		b.Skip("doctor.store.none", d.o.Target)
		return b.Result()
	}
	st, err := store.Open(ctx, bk, store.Options{})
	if err != nil {
		code := "store_unreadable"
		if errors.Is(err, store.ErrNewerFormat) {
			code = "newer_format"
		}
		b.Fail(err, code, d.p.T("doctor.store.unreadable", d.o.Target), d.p.T("doctor.store.unreadable.fix"))
		return b.Result()
	}
	defer st.Close()
	cfg := st.Config()
	b.Evidence("store_id", cfg.ID)
	b.Evidence("store_format", fmt.Sprintf("%d (chunker %s, zstd, bundles of %s)", cfg.Format, cfg.Chunker.Polynomial, precheck.Bytes(cfg.BundleSize)))
	d.storeLeases(ctx, b, bk)
	cr, err := st.Check(ctx, store.CheckOptions{})
	if err != nil {
		b.Fail(err, "store_unreadable", d.p.T("doctor.store.index_unreadable", d.o.Target), d.p.T("doctor.store.unreadable.fix"))
		return b.Result()
	}
	b.Evidence("store_index", fmt.Sprintf("%d bundles, %d blobs, %d bundles no index lists", cr.Bundles, cr.Blobs, cr.Unindexed))
	if len(cr.Damaged) > 0 {
		bad := damagedBundles(cr.Damaged)
		b.Evidence("store_damaged", strings.Join(bad[:min(len(bad), storeNamed)], ", "))
		b.Fail(fmt.Errorf("%w: %d bundles the index lists are missing or of another size: %s", store.ErrDamaged, len(bad), strings.Join(bad, ", ")),
			"store_damaged", d.p.T("doctor.store.damaged", len(bad)), d.p.T("doctor.store.damaged.fix"))
	}
	d.storePacks(ctx, b, st, remote)
	if cr.Unindexed > 0 {
		b.Raise(check.Warn, "store_unindexed", d.p.T("doctor.store.unindexed", cr.Unindexed), d.p.T("doctor.store.unindexed.fix"))
	}
	b.OK("doctor.store.ok", cr.Bundles, cr.Blobs)
	return b.Result()
}

// storeLeases reports the store's leases: a live exclusive one is a prune
// at work; a dead owner's or an expired one is stale (the next backup or
// prune removes it).
func (d *doctor) storeLeases(ctx context.Context, b *precheck.Builder, bk storage.Backend) {
	leases, err := store.Leases(ctx, bk)
	if err != nil {
		b.Evidence("store_leases", "unreadable: "+err.Error())
		return
	}
	live, err := store.LiveTokens(ctx, bk, store.LockOptions{Now: d.o.Now})
	if err != nil {
		b.Evidence("store_leases", "unreadable: "+err.Error())
		return
	}
	if len(leases) == 0 {
		b.Evidence("store_leases", "none")
		return
	}
	stale := 0
	for _, l := range leases {
		state := "live"
		if !live[l.Owner.Token] {
			state, stale = "stale", stale+1
		}
		b.Evidence("store_lease", fmt.Sprintf("%s: %s (pid %s on %s), until %s", state, l.Purpose, strconv.Itoa(l.Owner.PID),
			l.Owner.Host, l.ExpiresAt.UTC().Format(time.RFC3339)))
		if state == "live" && l.Mode == store.Exclusive {
			b.Raise(check.Warn, "store_locked", d.p.T("doctor.store.locked", l.Purpose, l.Owner.Host, l.Owner.PID), d.p.T("doctor.store.locked.fix"))
		}
	}
	if stale > 0 {
		b.Raise(check.Warn, "store_stale_lease", d.p.T("doctor.store.stale_lease", stale), d.p.T("doctor.store.stale_lease.fix"))
	}
}

// storePacks checks that every chunk of every complete store pack is in
// the index (the data a pack references is there), naming the packs that
// miss some.
func (d *doctor) storePacks(ctx context.Context, b *precheck.Builder, st *store.Store, remote bool) {
	list, usedBlobs := pack.List, func(ctx context.Context, p pack.Info) (map[store.ID]bool, error) { return pack.UsedBlobs(ctx, p.Path) }
	if remote { // object storage: manifests and chunk lists through the store's backend
		list = func(ctx context.Context, _ string) ([]pack.Info, error) { return transfer.List(ctx, st.Backend()) }
		usedBlobs = func(ctx context.Context, p pack.Info) (map[store.ID]bool, error) {
			return transfer.UsedBlobs(ctx, st.Backend(), p.Name)
		}
	}
	packs, err := list(ctx, d.o.Target)
	if err != nil {
		return // the packs check reports it
	}
	checked := 0
	var missing []string
	for _, p := range packs {
		if p.Status != pack.StatusComplete || p.Format != pack.FormatStore {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		used, err := usedBlobs(ctx, p)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (its chunk lists: %v)", p.Name, err))
			continue
		}
		checked++
		n := 0
		for id := range used {
			if _, ok := st.Index().Lookup(id); !ok {
				n++
			}
		}
		if n > 0 {
			missing = append(missing, fmt.Sprintf("%s (%d chunks)", p.Name, n))
		}
	}
	b.Evidence("store_packs", strconv.Itoa(checked))
	if len(missing) > 0 {
		slices.Sort(missing)
		b.Evidence("store_missing", strings.Join(missing[:min(len(missing), storeNamed)], "; "))
		b.Fail(fmt.Errorf("%w: store packs reference chunks no index lists: %s", store.ErrDamaged, strings.Join(missing, "; ")),
			"store_missing_data", d.p.T("doctor.store.missing", len(missing)), d.p.T("doctor.store.missing.fix"))
	}
}

// damagedBundles are the distinct bundles of the damaged blobs, sorted.
func damagedBundles(bad []*store.BlobError) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range bad {
		if !seen[e.Bundle] {
			seen[e.Bundle] = true
			out = append(out, e.Bundle)
		}
	}
	slices.Sort(out)
	return out
}

// listPacks lists the target's packs: a directory's (pack.List), or object
// storage's through its backend (transfer.List).
func (d *doctor) listPacks(ctx context.Context) ([]pack.Info, error) {
	if !storage.IsS3URL(d.o.Target) {
		return pack.List(ctx, d.o.Target)
	}
	bk, _, err := targets.Open(ctx, d.o.Target, targets.Options{S3: d.o.S3})
	if err != nil {
		return nil, err
	}
	defer bk.Close()
	return transfer.List(ctx, bk)
}
