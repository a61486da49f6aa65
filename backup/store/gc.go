package store

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/dockpack/dockpack/backup/storage"
)

// GCResult is what a garbage collection did.
type GCResult struct {
	BundlesKept     int   `json:"bundles_kept"`
	BundlesRepacked int   `json:"bundles_repacked"`
	BundlesDeleted  int   `json:"bundles_deleted"`
	BundlesWritten  int   `json:"bundles_written"`
	BlobsDeleted    int   `json:"blobs_deleted"`
	BytesDeleted    int64 `json:"bytes_deleted"` // bundle bytes removed
	BytesWritten    int64 `json:"bytes_written"` // bundle bytes written by repacking
	// Missing lists used blobs no bundle holds (packs that use them are damaged).
	Missing []ID `json:"missing,omitempty"`
}

// Bundles lists the bundles in the store (indexed or not) with their sizes.
func (s *Store) Bundles(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.b.List(ctx, DataPrefix, func(i storage.Info) error {
		out[path.Base(i.Key)] = i.Size
		return nil
	})
	return out, err
}

// GC removes every blob used does not report: bundles with no used blob are
// deleted, bundles with some are rewritten holding only the used ones; the
// indexes are replaced by one. Hold the exclusive lock. Order: new bundles,
// the new index, removal of the old indexes, removal of the bundles nothing
// lists — a crash leaves at worst duplicate or unreferenced data.
func (s *Store) GC(ctx context.Context, used func(ID) bool) (GCResult, error) {
	var res GCResult
	if err := s.LoadIndex(ctx); err != nil {
		return res, err
	}
	present, err := s.Bundles(ctx)
	if err != nil {
		return res, err
	}
	keep, repack, chosen := s.plan(present, used)
	res.BundlesKept, res.BundlesRepacked = len(keep), len(repack)
	for id := range s.idx.blobs {
		if _, ok := chosen[id]; used(id) && !ok {
			res.Missing = append(res.Missing, id)
		}
	}
	stale := len(present) > len(keep)+len(repack) || len(repack) > 0 || len(s.idx.files) > 1
	for id := range present {
		if _, ok := s.idx.bundles[id]; !ok {
			stale = true
		}
	}
	if !stale {
		return res, nil
	}
	written, err := s.repack(ctx, repack, chosen, &res)
	if err != nil {
		return res, err
	}
	newIdx := append(slices.Clone(keep), written...)
	oldFiles := s.idx.files
	if len(newIdx) > 0 {
		if _, err := s.writeIndex(ctx, newIdx); err != nil {
			return res, err
		}
	}
	for _, k := range oldFiles {
		if err := s.b.Remove(ctx, k); err != nil {
			return res, fmt.Errorf("remove the old index %s: %w", k, err)
		}
	}
	kept := map[string]bool{}
	for _, b := range newIdx {
		kept[b.ID] = true
	}
	for id, size := range present {
		if kept[id] {
			continue
		}
		if err := s.b.Remove(ctx, bundleKey(id)); err != nil {
			return res, fmt.Errorf("remove bundle %s: %w", id, err)
		}
		res.BundlesDeleted++
		res.BytesDeleted += size
		if be, ok := s.idx.bundles[id]; ok {
			for _, e := range be.Blobs {
				if !used(e.ID) {
					res.BlobsDeleted++
				}
			}
		}
	}
	return res, s.LoadIndex(ctx)
}

// plan sorts the present, indexed bundles into those kept whole and those
// to rewrite. chosen says, for every used blob found, the one bundle its
// copy is kept from.
func (s *Store) plan(present map[string]int64, used func(ID) bool) (keep []BundleEntry, repack []BundleEntry, chosen map[ID]string) {
	chosen = map[ID]string{}
	ids := make([]string, 0, len(s.idx.bundles))
	for id, be := range s.idx.bundles {
		if size, ok := present[id]; ok && size == be.Size { // missing or truncated: nothing in it can be kept
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, e := range s.idx.bundles[id].Blobs {
			if _, ok := chosen[e.ID]; !ok && used(e.ID) {
				chosen[e.ID] = id
			}
		}
	}
	for _, id := range ids {
		be := s.idx.bundles[id]
		n := 0
		for _, e := range be.Blobs {
			if chosen[e.ID] == id {
				n++
			}
		}
		switch {
		case n == 0:
		case n == len(be.Blobs):
			keep = append(keep, be)
		default:
			repack = append(repack, be)
		}
	}
	return keep, repack, chosen
}

// repack copies the used blobs of bundles into new bundles (frames as they
// are, each checked by decompressing and hashing it first).
func (s *Store) repack(ctx context.Context, bundles []BundleEntry, chosen map[ID]string, res *GCResult) ([]BundleEntry, error) {
	var out []BundleEntry
	var cur *bundleWriter
	var buf []byte
	for _, be := range bundles {
		for _, e := range be.Blobs {
			if chosen[e.ID] != be.ID {
				continue
			}
			frame, err := s.readFrame(ctx, be.ID, e)
			if err != nil {
				return out, err
			}
			b, err := s.checkFrame(ctx, e, be.ID, frame, buf) // without the naming key: a well-formed age file
			if b != nil {
				buf = b
			}
			if err != nil {
				var bErr *BlobError
				if errors.As(err, &bErr) {
					continue // damaged: not copied (verify reports the packs using it)
				}
				return out, err
			}
			if cur == nil {
				if cur, err = s.newBundle(ctx); err != nil {
					return out, err
				}
			}
			if _, err := cur.add(e.ID, frame, int(e.RawLength)); err != nil {
				cur.abort(ctx)
				return out, err
			}
			if cur.n >= s.cfg.BundleSize {
				b, err := cur.finish(ctx)
				if err != nil {
					return out, err
				}
				out, cur = append(out, b), nil
				res.BundlesWritten++
				res.BytesWritten += b.Size
			}
		}
	}
	if cur != nil {
		b, err := cur.finish(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, b)
		res.BundlesWritten++
		res.BytesWritten += b.Size
	}
	return out, nil
}

func (s *Store) readFrame(ctx context.Context, bundle string, e BlobEntry) ([]byte, error) {
	rc, err := s.b.Open(ctx, bundleKey(bundle), e.Offset, e.Length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	frame := make([]byte, e.Length)
	if _, err := readFull(rc, frame); err != nil {
		return nil, fmt.Errorf("read blob %s of bundle %s: %w", e.ID, bundle, err)
	}
	return frame, nil
}
