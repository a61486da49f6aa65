package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/dockpack/dockpack/backup/storage"
)

// bundleMagic ends every bundle, after the length of its index.
const bundleMagic = "DPBUNDL2"

// trailerLen is the length of a bundle's trailer: uint64 LE + magic.
const trailerLen = 8 + len(bundleMagic)

// bundleTrailerIndex is the index JSON at the end of a bundle.
type bundleTrailerIndex struct {
	Blobs []BlobEntry `json:"blobs"`
}

// bundleWriter appends compressed blobs to a bundle being uploaded.
type bundleWriter struct {
	id    string
	up    storage.Upload
	h     hash.Hash
	n     int64
	raw   int64
	blobs []BlobEntry
}

func (s *Store) newBundle(ctx context.Context) (*bundleWriter, error) {
	id := randomID(32)
	up, err := s.b.Create(ctx, bundleKey(id), storage.CreateOptions{Exclusive: true, Mode: s.mode, SizeHint: s.cfg.BundleSize})
	if err != nil {
		return nil, fmt.Errorf("create bundle %s: %w", id, err)
	}
	return &bundleWriter{id: id, up: up, h: sha256.New()}, nil
}

func (w *bundleWriter) write(p []byte) error {
	if _, err := w.up.Write(p); err != nil {
		return err
	}
	w.h.Write(p)
	w.n += int64(len(p))
	return nil
}

// add appends one blob's compressed frame.
func (w *bundleWriter) add(id ID, frame []byte, rawLen int) (BlobEntry, error) {
	e := BlobEntry{ID: id, Offset: w.n, Length: int64(len(frame)), RawLength: int64(rawLen)}
	if err := w.write(frame); err != nil {
		return e, err
	}
	w.blobs = append(w.blobs, e)
	w.raw += int64(rawLen)
	return e, nil
}

// finish writes the bundle's own index and trailer and commits it.
func (w *bundleWriter) finish(ctx context.Context) (BundleEntry, error) {
	data, err := json.Marshal(bundleTrailerIndex{Blobs: w.blobs})
	if err != nil {
		return BundleEntry{}, err
	}
	var tr [trailerLen]byte
	binary.LittleEndian.PutUint64(tr[:8], uint64(len(data)))
	copy(tr[8:], bundleMagic)
	if err := w.write(data); err != nil {
		return BundleEntry{}, err
	}
	if err := w.write(tr[:]); err != nil {
		return BundleEntry{}, err
	}
	if _, err := w.up.Commit(ctx); err != nil {
		return BundleEntry{}, fmt.Errorf("commit bundle %s: %w", w.id, err)
	}
	return BundleEntry{ID: w.id, Size: w.n, SHA256: hex.EncodeToString(w.h.Sum(nil)), Blobs: w.blobs}, nil
}

func (w *bundleWriter) abort(ctx context.Context) { _ = w.up.Abort(context.WithoutCancel(ctx)) }

// BlobError is a blob that cannot be read back as written.
type BlobError struct {
	Blob    ID
	Bundle  string // "" when no index lists the blob
	Problem string
}

func (e *BlobError) Error() string {
	if e.Bundle == "" {
		return fmt.Sprintf("blob %s: %s", e.Blob, e.Problem)
	}
	return fmt.Sprintf("blob %s in bundle %s: %s", e.Blob, bundleKey(e.Bundle), e.Problem)
}

// Is makes a BlobError match ErrDamaged.
func (e *BlobError) Is(target error) bool { return target == ErrDamaged }

// ErrDamaged: stored data is missing or does not read back as written.
var ErrDamaged = errors.New("store data damaged")

// readBlob reads, decompresses and checks one blob into dst's space; the
// stored frame is read into *frame (kept for the next call).
func (s *Store) readBlob(ctx context.Context, id ID, frame *[]byte, dst []byte, checkID bool) ([]byte, error) {
	if !s.Unsealed() {
		return nil, s.noIdentity()
	}
	loc, ok := s.idx.Lookup(id)
	if !ok {
		return nil, &BlobError{Blob: id, Problem: "no index of the store lists it (the data is missing)"}
	}
	rc, err := s.b.Open(ctx, bundleKey(loc.Bundle), loc.Offset, loc.Length)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			return nil, &BlobError{Blob: id, Bundle: loc.Bundle, Problem: "the bundle is missing"}
		}
		return nil, err
	}
	if int64(cap(*frame)) < loc.Length {
		*frame = make([]byte, loc.Length)
	}
	f := (*frame)[:loc.Length]
	_, err = io.ReadFull(rc, f)
	rc.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, &BlobError{Blob: id, Bundle: loc.Bundle, Problem: "the bundle is shorter than its index says"}
		}
		return nil, err
	}
	return s.decodeBlob(ctx, id, loc.Bundle, f, loc.RawLength, dst, checkID)
}

// decodeBlob opens a sealed frame (an encrypted store: seal.go),
// decompresses it and checks its length and (checkID) its id.
func (s *Store) decodeBlob(ctx context.Context, id ID, bundle string, frame []byte, rawLen int64, dst []byte, checkID bool) ([]byte, error) {
	if s.Sealed() {
		var err error
		if frame, err = s.openFrame(ctx, id, bundle, frame); err != nil {
			return nil, err
		}
	}
	out, err := s.dec.DecodeAll(frame, dst[:0])
	if err != nil {
		return nil, &BlobError{Blob: id, Bundle: bundle, Problem: "does not decompress: " + err.Error()}
	}
	if int64(len(out)) != rawLen {
		return nil, &BlobError{Blob: id, Bundle: bundle, Problem: fmt.Sprintf("decompresses to %d bytes, the index says %d", len(out), rawLen)}
	}
	if checkID && s.blobID(out) != id {
		return nil, &BlobError{Blob: id, Bundle: bundle, Problem: "its hash differs from its id (damaged or altered)"}
	}
	return out, nil
}

// readBundle reads a whole bundle and checks it against the index entry:
// its size and sha256, its own trailer index, every blob decompressed and
// hashed. It returns the blob errors found (an error only for ctx or I/O).
func (s *Store) readBundle(ctx context.Context, be BundleEntry) ([]*BlobError, error) {
	rc, err := s.b.Open(ctx, bundleKey(be.ID), 0, -1)
	if errors.Is(err, storage.ErrNotExist) {
		return bundleDamaged(be, "the bundle is missing"), nil
	}
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, be.Size+1))
	rc.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	whole := ""
	switch sum := sha256.Sum256(data); {
	case int64(len(data)) != be.Size:
		whole = fmt.Sprintf("the bundle is %d bytes, its index says %d", len(data), be.Size)
	case hex.EncodeToString(sum[:]) != be.SHA256:
		whole = "the bundle's sha256 differs from its index"
	}
	var out []*BlobError
	var buf []byte
	for _, e := range be.Blobs {
		if e.Offset < 0 || e.Length < 0 || e.Offset+e.Length > int64(len(data)) {
			out = append(out, &BlobError{Blob: e.ID, Bundle: be.ID, Problem: "outside the bundle"})
			continue
		}
		b, err := s.checkFrame(ctx, e, be.ID, data[e.Offset:e.Offset+e.Length], buf)
		if err != nil {
			var bErr *BlobError
			if errors.As(err, &bErr) {
				out = append(out, bErr)
				continue
			}
			return nil, err
		}
		if b != nil {
			buf = b
		}
	}
	if whole != "" && len(out) == 0 {
		// The blobs read fine; the damage is elsewhere in the file (its own index).
		if p := checkTrailer(data, be); p != "" {
			whole += "; " + p
		}
		out = bundleDamaged(BundleEntry{ID: be.ID, Blobs: be.Blobs[:min(len(be.Blobs), 1)]}, whole)
	} else if whole == "" {
		if p := checkTrailer(data, be); p != "" {
			out = append(out, bundleDamaged(BundleEntry{ID: be.ID, Blobs: be.Blobs[:min(len(be.Blobs), 1)]}, p)...)
		}
	}
	return out, nil
}

// checkTrailer compares a bundle's own index with the index file's entry.
func checkTrailer(data []byte, be BundleEntry) string {
	if len(data) < trailerLen || string(data[len(data)-len(bundleMagic):]) != bundleMagic {
		return "the bundle has no trailer"
	}
	n := binary.LittleEndian.Uint64(data[len(data)-trailerLen:])
	if n > uint64(len(data)-trailerLen) {
		return "the bundle's trailer is damaged"
	}
	var ti bundleTrailerIndex
	if err := json.Unmarshal(data[uint64(len(data)-trailerLen)-n:len(data)-trailerLen], &ti); err != nil {
		return "the bundle's own index is damaged: " + err.Error()
	}
	a, _ := json.Marshal(ti.Blobs)
	b, _ := json.Marshal(be.Blobs)
	if !bytes.Equal(a, b) {
		return "the bundle's own index disagrees with the store's index"
	}
	return ""
}

func bundleDamaged(be BundleEntry, problem string) []*BlobError {
	out := make([]*BlobError, 0, len(be.Blobs))
	for _, e := range be.Blobs {
		out = append(out, &BlobError{Blob: e.ID, Bundle: be.ID, Problem: problem})
	}
	if len(out) == 0 {
		out = append(out, &BlobError{Bundle: be.ID, Problem: problem})
	}
	return out
}
