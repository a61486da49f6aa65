package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

// ErrOtherStore: the destination holds a pack store of another id — a
// store pack's chunks can only join the store its manifest names.
var ErrOtherStore = errors.New("the destination's pack store is another store")

// storeFiles lists a store pack's objects to copy — its chunk lists, each
// read whole and checked against the manifest — and the blobs they use.
func storeFiles(ctx context.Context, src storage.Backend, name string, m *pack.Manifest) ([]file, map[store.ID]bool, error) {
	files := make([]file, 0, len(m.Files))
	used := map[store.ID]bool{}
	for _, f := range m.Files {
		if f.Chunks == nil {
			return nil, nil, fmt.Errorf("copy: %s: %w: %s has no chunk list", name, ErrSource, f.Path)
		}
		data, err := storage.ReadObject(ctx, src, name+"/"+f.Chunks.List, 1<<30)
		if err != nil {
			return nil, nil, fmt.Errorf("copy: %s: %w: chunk list %s: %w", name, ErrSource, f.Chunks.List, err)
		}
		if sum := sha256Hex(data); sum != f.Chunks.ListSHA256 {
			return nil, nil, fmt.Errorf("copy: %s: %w: chunk list %s has sha256 %s, the manifest says %s", name, ErrSource, f.Chunks.List, sum, f.Chunks.ListSHA256)
		}
		var cl pack.ChunkList
		if err := json.Unmarshal(data, &cl); err != nil {
			return nil, nil, fmt.Errorf("copy: %s: %w: chunk list %s: %w", name, ErrSource, f.Chunks.List, err)
		}
		for _, c := range cl.Chunks {
			used[c.ID] = true
		}
		files = append(files, file{path: f.Chunks.List, size: int64(len(data)), sha256: f.Chunks.ListSHA256})
	}
	return files, used, nil
}

// storeCopy makes the destination's pack store hold every blob a store
// pack uses: the source's config when the destination has no store
// (the same id, so the pack's manifest names it), then the bundles it
// lacks — each hashed as it is read, read back at the destination and
// checked against the source's index — and one index file listing them.
// Both stores are held under a shared lease meanwhile (a prune at either
// end waits). The pack's own objects are copied afterwards, its manifest
// last, so a pack is never visible before its data.
type storeCopy struct {
	src, dst     storage.Backend
	srcSt, dstSt *store.Store
	locks        []*store.Lock
	log          *zap.Logger
}

func openStoreCopy(ctx context.Context, src, dst storage.Backend, m *pack.Manifest, id owner.Identity, log *zap.Logger) (*storeCopy, error) {
	sc := &storeCopy{src: src, dst: dst, log: log}
	fail := func(err error) (*storeCopy, error) { sc.close(ctx); return nil, err }
	var err error
	if sc.srcSt, err = store.Open(ctx, src, store.Options{}); err != nil {
		return fail(fmt.Errorf("copy: the source's pack store: %w: %w", ErrSource, err))
	}
	if got := sc.srcSt.Config().ID; got != m.Store.ID {
		return fail(fmt.Errorf("copy: %w: the pack names store %s, the source holds %s", ErrSource, m.Store.ID, got))
	}
	lo := store.LockOptions{Mode: store.Shared, Owner: id, Purpose: "copy"}
	l, err := store.AcquireLock(ctx, src, lo)
	if err != nil {
		return fail(fmt.Errorf("copy: the source's pack store: %w", err))
	}
	sc.locks = append(sc.locks, l)
	if err := sc.srcSt.LoadIndex(ctx); err != nil {
		return fail(fmt.Errorf("copy: %w", err))
	}
	have, err := store.Exists(ctx, dst)
	if err != nil {
		return fail(fmt.Errorf("copy: looking for a pack store at the destination: %w", err))
	}
	// An encrypted store's sealed naming key goes first: a copy without it
	// cannot be opened (docs/encryption.md §4).
	if _, err := store.CopyNamingKey(ctx, src, dst); err != nil {
		return fail(fmt.Errorf("copy: %w", err))
	}
	if !have {
		cfg, err := storage.ReadObject(ctx, src, store.ConfigKey, 1<<20)
		if err != nil {
			return fail(fmt.Errorf("copy: the source's store config: %w", err))
		}
		if _, err := storage.WriteObject(ctx, dst, store.ConfigKey, bytes.NewReader(cfg), storage.CreateOptions{Exclusive: true, SizeHint: int64(len(cfg))}); err != nil && !errors.Is(err, storage.ErrExists) {
			return fail(fmt.Errorf("copy: writing the store config at the destination: %w", err))
		}
	}
	if sc.dstSt, err = store.Open(ctx, dst, store.Options{}); err != nil {
		return fail(fmt.Errorf("copy: the destination's pack store: %w", err))
	}
	if got := sc.dstSt.Config().ID; got != m.Store.ID {
		return fail(fmt.Errorf("copy: %w: %s holds store %s, the pack belongs to store %s (copy it to another prefix or directory)", ErrOtherStore, dst.Location(), got, m.Store.ID))
	}
	if l, err = store.AcquireLock(ctx, dst, lo); err != nil {
		return fail(fmt.Errorf("copy: the destination's pack store: %w", err))
	}
	sc.locks = append(sc.locks, l)
	if err := sc.dstSt.LoadIndex(ctx); err != nil {
		return fail(fmt.Errorf("copy: %w", err))
	}
	return sc, nil
}

func (sc *storeCopy) close(ctx context.Context) {
	for _, l := range sc.locks {
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			sc.log.Warn("copy: a store lease was not released (it expires by itself)", zap.Error(err))
		}
	}
	if sc.srcSt != nil {
		sc.srcSt.Close()
	}
	if sc.dstSt != nil {
		sc.dstSt.Close()
	}
}

// held re-checks both leases (a store pruned meanwhile would have taken them over).
func (sc *storeCopy) held(ctx context.Context) error {
	for _, l := range sc.locks {
		if err := l.Held(ctx); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	return nil
}

// blobs copies the bundles holding used that the destination lacks and
// indexes them; it returns how many bundles and bytes went over.
func (sc *storeCopy) blobs(ctx context.Context, used map[store.ID]bool, progress func(n int64)) (int, int64, error) {
	srcIdx, dstIdx := sc.srcSt.Index(), sc.dstSt.Index()
	need := map[string]bool{}
	for id := range used {
		if _, ok := dstIdx.Lookup(id); ok {
			continue
		}
		loc, ok := srcIdx.Lookup(id)
		if !ok {
			return 0, 0, fmt.Errorf("copy: %w: blob %s is in no bundle of the source's store index", ErrSource, id)
		}
		need[loc.Bundle] = true
	}
	bundles := srcIdx.Bundles()
	ids := make([]string, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var entries []store.BundleEntry
	var bytesCopied int64
	for _, id := range ids {
		be := bundles[id]
		if err := sc.bundle(ctx, be, progress); err != nil {
			return 0, 0, err
		}
		entries = append(entries, be)
		bytesCopied += be.Size
	}
	if len(entries) == 0 {
		return 0, 0, nil
	}
	data, err := json.Marshal(struct {
		Bundles []store.BundleEntry `json:"bundles"`
	}{entries})
	if err != nil {
		return 0, 0, err
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	key := store.IndexPrefix + hex.EncodeToString(rnd[:]) + ".json"
	if _, err := storage.WriteObject(ctx, sc.dst, key, bytes.NewReader(data), storage.CreateOptions{Exclusive: true, SizeHint: int64(len(data))}); err != nil {
		return 0, 0, fmt.Errorf("copy: writing the store index %s at the destination: %w", key, err)
	}
	sc.log.Info("copy: bundles copied into the destination's store", zap.Int("bundles", len(entries)), zap.Int64("bytes", bytesCopied))
	return len(entries), bytesCopied, nil
}

// bundleKey is where a bundle lives (docs/format.md: blobs/data/<2 hex>/<id>).
func bundleKey(id string) string { return store.DataPrefix + id[:2] + "/" + id }

// bundle copies one bundle (unless the destination has it whole already)
// and reads it back.
func (sc *storeCopy) bundle(ctx context.Context, be store.BundleEntry, progress func(int64)) error {
	if len(be.ID) < 3 {
		return fmt.Errorf("copy: %w: bundle id %q", ErrSource, be.ID)
	}
	key := bundleKey(be.ID)
	if info, err := sc.dst.Stat(ctx, key); err == nil && info.Size == be.Size && readBack(ctx, sc.dst, key, be.Size, be.SHA256) == nil {
		return nil
	}
	rc, err := sc.src.Open(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("copy: opening bundle %s at the source: %w", key, err)
	}
	defer rc.Close()
	u, err := sc.dst.Create(ctx, key, storage.CreateOptions{SizeHint: be.Size})
	if err != nil {
		return fmt.Errorf("copy: creating %s: %w", key, err)
	}
	h := sha256.New()
	n, err := io.Copy(u, io.TeeReader(&progressReader{r: rc, fn: progress}, h))
	if err == nil && (n != be.Size || hex.EncodeToString(h.Sum(nil)) != be.SHA256) {
		err = fmt.Errorf("copy: bundle %s in %s: %w: %d bytes with sha256 %s, the store index says %d with %s",
			key, sc.src.Location(), ErrSource, n, hex.EncodeToString(h.Sum(nil)), be.Size, be.SHA256)
	}
	if err == nil {
		_, err = u.Commit(ctx)
	}
	if err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("copy: bundle %s: %w", key, err)
	}
	return readBack(ctx, sc.dst, key, be.Size, be.SHA256)
}

type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.fn != nil && n > 0 {
		p.fn(int64(n))
	}
	return n, err
}
