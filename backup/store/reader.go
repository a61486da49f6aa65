package store

import (
	"context"
	"io"
)

// chunkReader streams a file from its chunks, each read, decompressed and
// checked against its id as it comes.
type chunkReader struct {
	ctx    context.Context
	s      *Store
	chunks []Chunk
	i      int
	cur    []byte
	buf    []byte
	err    error
}

// OpenFile reads the file made of chunks. A chunk that is missing or does
// not read back as written fails the read with a *BlobError (ErrDamaged).
func (s *Store) OpenFile(ctx context.Context, chunks []Chunk) io.ReadCloser {
	return &chunkReader{ctx: ctx, s: s, chunks: chunks}
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.i >= len(r.chunks) {
			return 0, io.EOF
		}
		c := r.chunks[r.i]
		r.i++
		b, err := r.s.readBlob(r.ctx, c.ID, r.buf)
		if err != nil {
			r.err = err
			return 0, err
		}
		if int64(len(b)) != c.Size {
			r.err = &BlobError{Blob: c.ID, Problem: "its size differs from the chunk list's"}
			return 0, r.err
		}
		r.buf, r.cur = b, b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) Close() error { return nil }
