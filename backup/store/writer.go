package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/restic/chunker"

	"github.com/dockpack/dockpack/backup/seal"
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
	// take in the store (compressed; in an encrypted store, sealed too).
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
	// SHA256 is the whole file's checksum as recorded: its sha256, or in
	// an encrypted store its HMAC-SHA256 under the naming key.
	SHA256 string
	// PlainSHA256 is the whole file's sha256 (what an image's digest is
	// checked against): SHA256 in a plaintext store; in an encrypted one
	// computed only for image files (ImageSplit), never recorded.
	PlainSHA256 string
	Stats       Stats
}

// maxWorkers bounds the goroutines that hash and compress a file's chunks.
const maxWorkers = 4

// frameBound is room for the zstd frame of n bytes of any content (its
// raw blocks' headers and the frame's): the frame buffer never grows.
func frameBound(n int) int { return n + n>>8 + 1024 }

// writerWorkers is how many chunks a Writer hashes and compresses at once.
func writerWorkers() int { return min(max(runtime.GOMAXPROCS(0), 1), maxWorkers) }

// Writer writes files into the store: one per backup (not for concurrent
// use; WriteFile calls follow one another).
//
// A file is cut into chunks in the calling goroutine while up to
// writerWorkers() others hash and compress them and append the new ones to
// the open bundle; a full bundle is committed in the background while the
// next one fills (at most one at a time). Memory is bounded: workers+1
// chunk buffers (each at most the chunker's maximum chunk size), one
// compressed frame per worker, and the bundle being written streams to
// storage.
type Writer struct {
	s       *Store
	ch      *chunker.Chunker
	bufs    chan []byte // free chunk buffers: a chunk waits for one (bounded memory)
	workers int

	mu      sync.Mutex // guards everything below (the workers' shared state)
	frames  [][]byte   // one compressed-frame buffer per worker, kept across files
	cur     *bundleWriter
	fin     chan finished // the bundle committing in the background (nil: none)
	written []BundleEntry
	mine    map[ID]bool // blobs this writer stored (committed, in cur, or being compressed)
	total   Stats
	indexed int   // how many of written an index file lists
	err     error // a failed background commit: the writer is unusable
}

// finished is a background commit's outcome.
type finished struct {
	be  BundleEntry
	err error
}

// NewWriter starts a writer (LoadIndex first, so known blobs are reused).
func (s *Store) NewWriter() *Writer {
	c := s.cfg.Chunker
	ch := chunker.NewWithBoundaries(nil, s.pol, c.MinSize, c.MaxSize)
	ch.SetAverageBits(c.AverageBits)
	n := writerWorkers()
	w := &Writer{s: s, ch: ch, workers: n, bufs: make(chan []byte, n+1), mine: map[ID]bool{}}
	for i := 0; i < n+1; i++ {
		w.bufs <- nil // allocated on first use, at the chunker's maximum size
	}
	w.frames = make([][]byte, n) // allocated on first use, at the bound of a maximum chunk
	return w
}

// Stats is what the writer did so far.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total
}

// Bundles is how many bundles the writer committed.
func (w *Writer) Bundles() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.written)
}

// chunkJob is one chunk on its way through the workers.
type chunkJob struct {
	buf  []byte // the buffer holding data (returned to the pool when done)
	data []byte
	id   ID
	st   Stats
}

// WriteFile reads r to its end, cut into chunks, and stores the chunks the
// store lacks.
func (w *Writer) WriteFile(ctx context.Context, r io.Reader) (FileResult, error) {
	return w.writeFile(ctx, r, false)
}

// writeFile is WriteFile; plain asks an encrypted store for the file's
// plaintext sha256 too (an image's config or layer, checked against its
// digest: ImageSplit), which a plaintext store's checksum is anyway.
func (w *Writer) writeFile(ctx context.Context, r io.Reader, plain bool) (FileResult, error) {
	var res FileResult
	if !w.s.Unsealed() {
		return res, fmt.Errorf("%w: the store in %s is encrypted and this writer has no naming key", seal.ErrNamingKey, w.s.b.Location())
	}
	fh, ph := w.s.FileHash(), sha256.New()
	var sums io.Writer = fh
	plain = plain && w.s.Sealed()
	if plain {
		sums = io.MultiWriter(fh, ph)
	}
	cfg := w.s.cfg.Chunker
	w.ch.ResetWithBoundaries(io.TeeReader(r, sums), w.s.pol, cfg.MinSize, cfg.MaxSize)
	w.ch.SetAverageBits(cfg.AverageBits)

	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queue := make(chan *chunkJob)
	var wg sync.WaitGroup
	for i := 0; i < w.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work(ctx, wctx, cancel, queue)
		}()
	}
	jobs, err := w.cut(wctx, cfg.MaxSize, queue)
	close(queue)
	wg.Wait()
	if err == nil {
		err = context.Cause(wctx) // a worker's failure
	}
	if err != nil {
		return res, err
	}
	res.Chunks = make([]Chunk, len(jobs))
	for i, j := range jobs {
		res.Chunks[i] = Chunk{ID: j.id, Size: j.st.ReadBytes}
		res.Size += j.st.ReadBytes
		res.Stats.Add(j.st)
	}
	res.SHA256 = hex.EncodeToString(fh.Sum(nil))
	switch {
	case plain:
		res.PlainSHA256 = hex.EncodeToString(ph.Sum(nil))
	case !w.s.Sealed():
		res.PlainSHA256 = res.SHA256
	}
	w.mu.Lock()
	w.total.Add(res.Stats)
	w.mu.Unlock()
	return res, nil
}

// cut runs the chunker, handing each chunk to the workers in a pooled
// buffer; it returns the chunks in file order (filled by the workers).
func (w *Writer) cut(ctx context.Context, maxSize uint, queue chan<- *chunkJob) ([]*chunkJob, error) {
	var jobs []*chunkJob
	for {
		var buf []byte
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case buf = <-w.bufs:
		}
		if buf == nil {
			buf = make([]byte, maxSize)
		}
		c, err := w.ch.Next(buf)
		if err != nil {
			w.bufs <- buf
			if errors.Is(err, io.EOF) {
				return jobs, nil
			}
			return nil, err
		}
		j := &chunkJob{buf: buf, data: c.Data}
		jobs = append(jobs, j)
		select {
		case <-ctx.Done():
			w.bufs <- buf
			return nil, context.Cause(ctx)
		case queue <- j:
		}
	}
}

// work hashes and stores the chunks of queue; the first failure cancels
// the file's write (wctx). Background commits run on ctx (they may outlive
// the file).
func (w *Writer) work(ctx, wctx context.Context, fail context.CancelCauseFunc, queue <-chan *chunkJob) {
	w.mu.Lock()
	frame := w.frames[len(w.frames)-1]
	w.frames = w.frames[:len(w.frames)-1]
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.frames = append(w.frames, frame)
		w.mu.Unlock()
	}()
	for j := range queue {
		if wctx.Err() == nil {
			if frame == nil {
				frame = make([]byte, 0, frameBound(int(w.s.cfg.Chunker.MaxSize)))
			}
			j.id = w.s.blobID(j.data)
			st, err := w.store(ctx, j.id, j.data, &frame)
			if err != nil {
				fail(err)
			}
			j.st = st
		}
		w.bufs <- j.buf
		j.buf, j.data = nil, nil
	}
}

// store stores one chunk unless the store (or this writer) has it.
func (w *Writer) store(ctx context.Context, id ID, data []byte, frame *[]byte) (Stats, error) {
	st := Stats{ReadBytes: int64(len(data))}
	w.mu.Lock()
	if _, ok := w.s.idx.Lookup(id); ok || w.mine[id] {
		w.mu.Unlock()
		st.ReusedRawBytes, st.ReusedBlobs = int64(len(data)), 1
		return st, nil
	}
	w.mine[id] = true // claimed: a copy of it in flight elsewhere is reused
	w.mu.Unlock()

	*frame = w.s.enc.EncodeAll(data, (*frame)[:0])
	stored := *frame
	if w.s.Sealed() { // compressed, then sealed to the recipients (seal.go)
		var err error
		if stored, err = w.s.sealFrame(ctx, *frame); err != nil {
			return st, err
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return st, w.err
	}
	if w.cur == nil {
		b, err := w.s.newBundle(ctx)
		if err != nil {
			return st, err
		}
		w.cur = b
	}
	if _, err := w.cur.add(id, stored, len(data)); err != nil {
		return st, fmt.Errorf("write bundle %s: %w", w.cur.id, err)
	}
	st.NewRawBytes, st.NewBytes, st.NewBlobs = int64(len(data)), int64(len(stored)), 1
	if w.cur.n >= w.s.cfg.BundleSize {
		if err := w.rotateLocked(ctx); err != nil {
			return st, err
		}
	}
	return st, nil
}

// rotateLocked commits the full bundle in the background, after the one
// committing before it (w.mu held).
func (w *Writer) rotateLocked(ctx context.Context) error {
	if err := w.waitLocked(); err != nil {
		return err
	}
	b := w.cur
	w.cur = nil
	fin := make(chan finished, 1)
	w.fin = fin
	go func() {
		be, err := b.finish(ctx)
		fin <- finished{be: be, err: err}
	}()
	return nil
}

// waitLocked waits for the bundle committing in the background (w.mu held).
func (w *Writer) waitLocked() error {
	if w.fin != nil {
		f := <-w.fin
		w.fin = nil
		if f.err != nil {
			w.err = f.err
		} else {
			w.written = append(w.written, f.be)
		}
	}
	return w.err
}

// closeBundle commits the open bundle and waits for every commit.
func (w *Writer) closeBundle(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.waitLocked(); err != nil {
		return err
	}
	if w.cur == nil {
		return nil
	}
	be, err := w.cur.finish(ctx)
	w.cur = nil
	if err != nil {
		w.err = err
		return err
	}
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
	w.mu.Lock()
	defer w.mu.Unlock()
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
// prune removes them) after a background commit ends.
func (w *Writer) Abort(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.waitLocked()
	if w.cur != nil {
		w.cur.abort(ctx)
		w.cur = nil
	}
}
