package seal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"
)

// Digest is what a manifest records of a sealed file: the ciphertext's
// sha256 and size (what `sha256sum -c` sees at rest). PlainSize is the
// plaintext's size, for progress and statistics.
type Digest struct {
	SHA256    string
	Size      int64
	PlainSize int64
}

// counter hashes and counts the bytes that pass.
type counter struct {
	h hash.Hash
	n int64
}

func newCounter() *counter { return &counter{h: sha256.New()} }

func (c *counter) add(p []byte) {
	if c.h != nil {
		c.h.Write(p)
	}
	c.n += int64(len(p))
}

func (c *counter) sum() string {
	if c.h == nil {
		return ""
	}
	return hex.EncodeToString(c.h.Sum(nil))
}

// Writer seals what is written to it into dst, hashing the ciphertext as
// it goes. Memory: age's one 64 KiB chunk buffer, whatever the size.
type Writer struct {
	ctx    context.Context
	dst    io.Writer
	w      io.WriteCloser
	c      *counter
	plain  int64
	closed bool
	err    error
}

// Encrypt starts sealing into dst to k's recipients. Close finishes the
// age stream (it does not close dst); Digest is then the ciphertext's.
// A Write after ctx is done fails with ctx's error.
func (k *Keys) Encrypt(ctx context.Context, dst io.Writer) (*Writer, error) {
	return k.encrypt(ctx, dst, newCounter())
}

// EncryptUnhashed is Encrypt for a caller that hashes the ciphertext
// itself (a pack writer's sink does): Digest then has sizes only (SHA256
// empty), and the ciphertext is not hashed twice.
func (k *Keys) EncryptUnhashed(ctx context.Context, dst io.Writer) (*Writer, error) {
	return k.encrypt(ctx, dst, &counter{})
}

func (k *Keys) encrypt(ctx context.Context, dst io.Writer, c *counter) (*Writer, error) {
	if !k.Encrypts() {
		return nil, ErrPlaintextRefused
	}
	sw := &Writer{ctx: ctx, dst: dst, c: c}
	w, err := age.Encrypt(writerFunc(sw.writeCipher), k.recipients...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	sw.w = w
	return sw, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (w *Writer) writeCipher(p []byte) (int, error) {
	n, err := w.dst.Write(p)
	w.c.add(p[:n])
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// Write seals p.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("seal: write after close")
	}
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.w.Write(p)
	w.plain += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Close writes age's last chunk. It does not close the destination.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.w.Close(); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Digest is the ciphertext's sha256 and size; complete after Close.
func (w *Writer) Digest() Digest {
	return Digest{SHA256: w.c.sum(), Size: w.c.n, PlainSize: w.plain}
}

// Reader opens a sealed stream, hashing the ciphertext as it is read.
type Reader struct {
	ctx   context.Context
	src   io.Reader // the ciphertext, hashed
	r     io.Reader // the plaintext
	c     *counter
	plain int64
	done  bool
}

// hashingReader counts and hashes what age reads.
type hashingReader struct {
	r io.Reader
	c *counter
}

func (h hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.c.add(p[:n])
	return n, err
}

// Decrypt opens src with k's identities. expected are the recipients the
// file is sealed to, as its manifest lists them (for the message of
// ErrWrongIdentity; may be nil). It reads age's header: a wrong identity
// fails here (ErrWrongIdentity), a file that is not age with
// ErrNotEncrypted. Reading past a damaged chunk fails with ErrDamaged.
// Digest is the ciphertext's once Read has returned io.EOF.
func (k *Keys) Decrypt(ctx context.Context, src io.Reader, expected []string) (*Reader, error) {
	return k.decrypt(ctx, src, expected, newCounter())
}

// DecryptUnhashed is Decrypt for a caller that checks the ciphertext by
// other means (a store's bundle sha256, the blob's keyed name): Digest has
// no sha256.
func (k *Keys) DecryptUnhashed(ctx context.Context, src io.Reader, expected []string) (*Reader, error) {
	return k.decrypt(ctx, src, expected, &counter{})
}

func (k *Keys) decrypt(ctx context.Context, src io.Reader, expected []string, c *counter) (*Reader, error) {
	if !k.Opens() {
		return nil, fmt.Errorf("%w: give --age-identity (or the passphrase) to read a sealed file", ErrNoIdentity)
	}
	sr := &Reader{ctx: ctx, c: c}
	sr.src = hashingReader{r: src, c: sr.c}
	r, err := age.Decrypt(sr.src, k.identities...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) || errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, k.wrongIdentity(expected, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrNotEncrypted, err)
	}
	sr.r = r
	return sr, nil
}

// Read returns plaintext. At the end it drains what age left unread of
// the source, so that Digest covers the whole ciphertext.
func (r *Reader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	r.plain += int64(n)
	switch {
	case err == io.EOF:
		extra, derr := io.Copy(io.Discard, r.src)
		if derr != nil {
			return n, derr
		}
		if extra > 0 {
			return n, fmt.Errorf("%w: %d bytes after the end of the sealed stream", ErrDamaged, extra)
		}
		r.done = true
		return n, io.EOF
	case err != nil:
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		return n, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return n, nil
}

// Digest is the ciphertext's sha256 and size read so far: the whole
// file's once Read has returned io.EOF.
func (r *Reader) Digest() Digest {
	return Digest{SHA256: r.c.sum(), Size: r.c.n, PlainSize: r.plain}
}

// Seal copies plaintext from src into dst sealed, and returns the
// ciphertext's digest.
func (k *Keys) Seal(ctx context.Context, dst io.Writer, src io.Reader) (Digest, error) {
	w, err := k.Encrypt(ctx, dst)
	if err != nil {
		return Digest{}, err
	}
	if _, err := io.Copy(w, src); err != nil {
		return Digest{}, err
	}
	if err := w.Close(); err != nil {
		return Digest{}, err
	}
	return w.Digest(), nil
}

// Open copies the plaintext of the sealed src into dst and returns the
// ciphertext's digest.
func (k *Keys) Open(ctx context.Context, dst io.Writer, src io.Reader, expected []string) (Digest, error) {
	r, err := k.Decrypt(ctx, src, expected)
	if err != nil {
		return Digest{}, err
	}
	if _, err := io.Copy(dst, r); err != nil {
		return Digest{}, err
	}
	return r.Digest(), nil
}
