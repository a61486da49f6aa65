package store

import (
	"context"
	"io"
	"math/rand/v2"
	"slices"
)

func readFull(r io.Reader, b []byte) (int, error) { return io.ReadFull(r, b) }

// CheckOptions configure Check.
type CheckOptions struct {
	// ReadData reads every bundle (Subset: a random fraction of them, 0–1).
	ReadData bool
	Subset   float64
	// Progress is called with the bytes of each bundle read.
	Progress func(n int64)
}

// CheckResult is what Check found.
type CheckResult struct {
	Bundles     int   `json:"bundles"`
	Blobs       int   `json:"blobs"`
	BundlesRead int   `json:"bundles_read"`
	BytesRead   int64 `json:"bytes_read"`
	// Damaged lists every blob that is missing or does not read back.
	Damaged []*BlobError `json:"-"`
	// Unindexed counts bundles no index lists (debris prune removes).
	Unindexed int `json:"unindexed"`
}

// Check checks the store: every indexed bundle present with its recorded
// size; with ReadData, bundles read whole (Check of readBundle).
func (s *Store) Check(ctx context.Context, o CheckOptions) (CheckResult, error) {
	var res CheckResult
	if err := s.LoadIndex(ctx); err != nil {
		return res, err
	}
	present, err := s.Bundles(ctx)
	if err != nil {
		return res, err
	}
	bundles := s.idx.Bundles()
	res.Bundles, res.Blobs = len(bundles), s.idx.Len()
	for id := range present {
		if _, ok := bundles[id]; !ok {
			res.Unindexed++
		}
	}
	ids := make([]string, 0, len(bundles))
	for id := range bundles {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var read []string
	for _, id := range ids {
		be := bundles[id]
		size, ok := present[id]
		switch {
		case !ok:
			res.Damaged = append(res.Damaged, bundleDamaged(be, "the bundle is missing")...)
		case size != be.Size:
			res.Damaged = append(res.Damaged, bundleDamaged(be, "the bundle's size differs from its index")...)
		default:
			read = append(read, id)
		}
	}
	if !o.ReadData {
		return res, nil
	}
	if o.Subset > 0 && o.Subset < 1 {
		rand.Shuffle(len(read), func(i, j int) { read[i], read[j] = read[j], read[i] })
		read = read[:max(1, min(len(read), int(float64(len(read))*o.Subset+0.999)))]
		slices.Sort(read)
	}
	for _, id := range read {
		if err := ctx.Err(); err != nil {
			return res, context.Cause(ctx)
		}
		bad, err := s.readBundle(ctx, bundles[id])
		if err != nil {
			return res, err
		}
		res.Damaged = append(res.Damaged, bad...)
		res.BundlesRead++
		res.BytesRead += bundles[id].Size
		if o.Progress != nil {
			o.Progress(bundles[id].Size)
		}
	}
	return res, nil
}

// MissingChunks reports the chunks of a list the index does not list or
// whose bundle is not present (present: from Bundles).
func (s *Store) MissingChunks(chunks []Chunk, present map[string]int64) []*BlobError {
	var out []*BlobError
	for _, c := range chunks {
		l, ok := s.idx.Lookup(c.ID)
		switch {
		case !ok:
			out = append(out, &BlobError{Blob: c.ID, Problem: "no index of the store lists it (the data is missing)"})
		case l.RawLength != c.Size:
			out = append(out, &BlobError{Blob: c.ID, Bundle: l.Bundle, Problem: "its size differs from the chunk list's"})
		default:
			if size, ok := present[l.Bundle]; !ok {
				out = append(out, &BlobError{Blob: c.ID, Bundle: l.Bundle, Problem: "the bundle is missing"})
			} else if be, ok := s.idx.bundles[l.Bundle]; ok && be.Size != size {
				out = append(out, &BlobError{Blob: c.ID, Bundle: l.Bundle, Problem: "the bundle's size differs from its index"})
			}
		}
	}
	return out
}
