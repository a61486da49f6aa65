package store

import (
	"context"
	"io"
	"sync"
)

// readAhead is how many chunks a file reader reads, opens, decompresses
// and checks ahead of its consumer (besides the one being consumed): the
// store's work overlaps with the consumer's (a restore's writes to the
// engine). Memory: readAhead+1 chunk buffers and one frame buffer, each at
// most the chunker's maximum chunk size (8 MiB; 1 MiB on average).
const readAhead = 2

// chunkReader streams a file from its chunks, each read, decompressed and
// checked against its id on a goroutine of its own, up to readAhead ahead.
type chunkReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	s      *Store
	chunks []Chunk
	once   sync.Once
	ready  chan decoded // chunks in order, then the error or io.EOF
	free   chan []byte  // buffers the consumer is done with
	done   chan struct{}
	cur    []byte // what is left of the chunk being consumed
	buf    []byte // its buffer
	err    error
}

// decoded is a chunk read back (data) or why not (err).
type decoded struct {
	data []byte
	err  error
}

// OpenFile reads the file made of chunks. A chunk that is missing or does
// not read back as written fails the read with a *BlobError (ErrDamaged).
// Close releases the reader's goroutine (so does the end of ctx).
func (s *Store) OpenFile(ctx context.Context, chunks []Chunk) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	return &chunkReader{ctx: ctx, cancel: cancel, s: s, chunks: chunks, ready: make(chan decoded, readAhead), free: make(chan []byte, readAhead+1), done: make(chan struct{})}
}

// fetch reads the chunks in order into ready, each into a free buffer.
func (r *chunkReader) fetch() {
	defer close(r.done)
	for i := 0; i < readAhead+1; i++ {
		r.free <- nil // allocated on first use
	}
	var frame []byte
	send := func(d decoded) bool {
		select {
		case r.ready <- d:
			return true
		case <-r.ctx.Done():
			return false
		}
	}
	for _, c := range r.chunks {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.ctx.Done():
			return
		}
		b, err := r.s.readBlob(r.ctx, c.ID, &frame, buf)
		if err == nil && int64(len(b)) != c.Size {
			err = &BlobError{Blob: c.ID, Problem: "its size differs from the chunk list's"}
		}
		if !send(decoded{data: b, err: err}) || err != nil {
			return
		}
	}
	send(decoded{err: io.EOF})
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.once.Do(func() { go r.fetch() })
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.buf != nil {
			r.free <- r.buf[:0] // never blocks: readAhead+1 buffers in all
			r.buf = nil
		}
		select {
		case d := <-r.ready:
			if d.err != nil {
				r.err = d.err
				continue
			}
			r.buf, r.cur = d.data, d.data
		case <-r.ctx.Done():
			r.err = context.Cause(r.ctx)
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the reading ahead and waits for it.
func (r *chunkReader) Close() error {
	r.cancel()
	r.once.Do(func() { close(r.done) }) // never read: nothing started
	<-r.done
	return nil
}
