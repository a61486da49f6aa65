package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/restic/chunker"
)

// Chunk is one chunk of a file: its blob and plaintext size.
type Chunk struct {
	ID   ID    `json:"id"`
	Size int64 `json:"size"`
}

// Stats count what a write read, added and found in the store.
type Stats struct {
	// ReadBytes is the plaintext read (the file's size).
	ReadBytes int64 `json:"read_bytes"`
	// NewRawBytes is the plaintext of the blobs added; NewBytes what they
	// take in the store (compressed).
	NewRawBytes int64 `json:"new_raw_bytes"`
	NewBytes    int64 `json:"new_bytes"`
	NewBlobs    int   `json:"new_blobs"`
	// ReusedRawBytes is the plaintext of the chunks the store held already.
	ReusedRawBytes int64 `json:"reused_raw_bytes"`
	ReusedBlobs    int   `json:"reused_blobs"`
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.ReadBytes += o.ReadBytes
	s.NewRawBytes += o.NewRawBytes
	s.NewBytes += o.NewBytes
	s.NewBlobs += o.NewBlobs
	s.ReusedRawBytes += o.ReusedRawBytes
	s.ReusedBlobs += o.ReusedBlobs
}

// FileResult is a file written into the store.
type FileResult struct {
	Chunks []Chunk
	Size   int64
	SHA256 string // of the whole file
	Stats  Stats
}

// Writer writes files into the store: one per backup (not for concurrent use).
type Writer struct {
	s       *Store
	ch      *chunker.Chunker
	buf     []byte // the chunker's buffer (max chunk size)
	frame   []byte // a compressed blob
	cur     *bundleWriter
	written []BundleEntry
	mine    map[ID]bool // blobs this writer stored (committed or in cur)
	total   Stats
	indexed int // how many of written an index file lists
}

// NewWriter starts a writer (LoadIndex first, so known blobs are reused).
func (s *Store) NewWriter() *Writer {
	c := s.cfg.Chunker
	ch := chunker.NewWithBoundaries(nil, s.pol, c.MinSize, c.MaxSize)
	ch.SetAverageBits(c.AverageBits)
	return &Writer{s: s, ch: ch, buf: make([]byte, c.MaxSize), mine: map[ID]bool{}}
}

// Stats is what the writer did so far.
func (w *Writer) Stats() Stats { return w.total }

// Bundles is how many bundles the writer committed.
func (w *Writer) Bundles() int { return len(w.written) }

// WriteFile reads r to its end, cut into chunks, and stores the chunks the
// store lacks.
func (w *Writer) WriteFile(ctx context.Context, r io.Reader) (FileResult, error) {
	var res FileResult
	fh := sha256.New()
	w.ch.ResetWithBoundaries(io.TeeReader(r, fh), w.s.pol, w.s.cfg.Chunker.MinSize, w.s.cfg.Chunker.MaxSize)
	w.ch.SetAverageBits(w.s.cfg.Chunker.AverageBits)
	for {
		if err := ctx.Err(); err != nil {
			return res, context.Cause(ctx)
		}
		c, err := w.ch.Next(w.buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, err
		}
		st, id, err := w.store(ctx, c.Data)
		if err != nil {
			return res, err
		}
		res.Chunks = append(res.Chunks, Chunk{ID: id, Size: int64(c.Length)})
		res.Size += int64(c.Length)
		res.Stats.Add(st)
	}
	res.SHA256 = hex.EncodeToString(fh.Sum(nil))
	w.total.Add(res.Stats)
	return res, nil
}

// store stores one chunk unless the store (or this writer) has it.
func (w *Writer) store(ctx context.Context, data []byte) (Stats, ID, error) {
	id := ID(sha256.Sum256(data))
	st := Stats{ReadBytes: int64(len(data))}
	if _, ok := w.s.idx.Lookup(id); ok || w.mine[id] {
		st.ReusedRawBytes, st.ReusedBlobs = int64(len(data)), 1
		return st, id, nil
	}
	if w.cur == nil {
		b, err := w.s.newBundle(ctx)
		if err != nil {
			return st, id, err
		}
		w.cur = b
	}
	w.frame = w.s.enc.EncodeAll(data, w.frame[:0])
	if _, err := w.cur.add(id, w.frame, len(data)); err != nil {
		return st, id, fmt.Errorf("write bundle %s: %w", w.cur.id, err)
	}
	w.mine[id] = true
	st.NewRawBytes, st.NewBytes, st.NewBlobs = int64(len(data)), int64(len(w.frame)), 1
	if w.cur.n >= w.s.cfg.BundleSize {
		if err := w.closeBundle(ctx); err != nil {
			return st, id, err
		}
	}
	return st, id, nil
}

func (w *Writer) closeBundle(ctx context.Context) error {
	if w.cur == nil {
		return nil
	}
	be, err := w.cur.finish(ctx)
	if err != nil {
		return err
	}
	w.cur = nil
	w.written = append(w.written, be)
	return nil
}

// Flush commits the open bundle and writes one index file for every bundle
// the writer committed: after it, everything written is durable and found
// by readers. It writes nothing when nothing was added.
func (w *Writer) Flush(ctx context.Context) error {
	if err := w.closeBundle(ctx); err != nil {
		return err
	}
	todo := w.written[w.indexed:]
	if len(todo) == 0 {
		return nil
	}
	if _, err := w.s.writeIndex(ctx, todo); err != nil {
		return err
	}
	for _, be := range todo {
		w.s.idx.add(be)
	}
	w.indexed = len(w.written)
	return nil
}

// Abort discards the open bundle (committed bundles stay, unreferenced:
// prune removes them).
func (w *Writer) Abort(ctx context.Context) {
	if w.cur != nil {
		w.cur.abort(ctx)
		w.cur = nil
	}
}
