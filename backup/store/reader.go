package store

import (
	"context"
	"errors"
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
	// trusted: a chunk is not hashed against its id (OpenFileTrusted).
	trusted bool
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

// OpenFileTrusted is OpenFile for a reader whose consumer checks the whole
// content itself (a layer streamed into an engine that hashes it against
// its DiffID as it loads it): each chunk is still read, decompressed and
// its size checked, but not hashed against its id. Sealed frames are
// authenticated all the same.
func (s *Store) OpenFileTrusted(ctx context.Context, chunks []Chunk) io.ReadCloser {
	r := s.OpenFile(ctx, chunks).(*chunkReader)
	r.trusted = true
	return r
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
		b, err := r.s.readBlob(r.ctx, c.ID, &frame, buf, !r.trusted)
		if err == nil && int64(len(b)) != c.Size {
			err = &BlobError{Blob: c.ID, Problem: "its size differs from the chunk list's"}
		}
		if !send(decoded{data: b, err: err}) || err != nil {
			return
		}
	}
	send(decoded{err: io.EOF})
}

// next makes r.cur the next chunk's content (io.EOF after the last).
func (r *chunkReader) next() error {
	r.once.Do(func() { go r.fetch() })
	for len(r.cur) == 0 {
		if r.err != nil {
			return r.err
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
	return nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if err := r.next(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// WriteTo writes each chunk to w from its own buffer (io.Copy uses it: no
// copy into a buffer of the caller's).
func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		if err := r.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		m, err := w.Write(r.cur)
		n += int64(m)
		r.cur = r.cur[m:]
		if err != nil {
			return n, err
		}
	}
}

// Close stops the reading ahead and waits for it.
func (r *chunkReader) Close() error {
	r.cancel()
	r.once.Do(func() { close(r.done) }) // never read: nothing started
	<-r.done
	return nil
}
