package pack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// A sealed pack (issue 16, docs/encryption.md): every file of the
// manifest's components is an age file at rest, its path the plaintext's
// with SealedSuffix appended, its size and sha256 those of the ciphertext
// (what SHA256SUMS lists, so `sha256sum -c SHA256SUMS` checks what is at
// rest). manifest.json and SHA256SUMS stay plaintext; the manifest's
// encryption section names the recipients' public keys, never a secret nor
// a plaintext hash. The volumes, sqlite and consistency sections name
// files by their plaintext's name (Manifest.File resolves both).

// SealedSuffix ends the path of a sealed file.
const SealedSuffix = ".age"

// SchemeAge is the only encryption scheme.
const SchemeAge = "age"

// EncryptionEntry is the manifest's encryption section.
type EncryptionEntry struct {
	Scheme string `json:"scheme"`
	// Recipients are the public keys the files are sealed to ("age1…", or
	// seal.PassphraseRecipient for a passphrase).
	Recipients []string `json:"recipients"`
}

// ErrSealedChanged: a sealed file's ciphertext differs from the manifest's
// size or sha256 (damaged, altered or substituted).
var ErrSealedChanged = errors.New("sealed file differs from the manifest")

// Sealed reports whether the pack's files are sealed.
func (m *Manifest) Sealed() bool { return m.Encryption != nil }

// PlainPath is the plaintext's name of a listed path: p without
// SealedSuffix in a sealed pack, p otherwise.
func (m *Manifest) PlainPath(p string) string {
	if m.Encryption == nil {
		return p
	}
	return strings.TrimSuffix(p, SealedSuffix)
}

// validateEncryption checks the encryption section.
func (m *Manifest) validateEncryption(bad func(format string, a ...any)) {
	e := m.Encryption
	if e == nil {
		return
	}
	if e.Scheme != SchemeAge {
		bad("encryption.scheme %q: want %q", e.Scheme, SchemeAge)
	}
	if len(e.Recipients) == 0 {
		bad("encryption.recipients is empty")
	}
	for i, r := range e.Recipients {
		if r != seal.PassphraseRecipient && (!strings.HasPrefix(r, "age1") || strings.ContainsAny(r, " \t\n")) {
			bad("encryption.recipients[%d] %q is not an age recipient", i, r)
		}
	}
}

// sealedFiles reports whether the pack's files are age files at rest (a
// sealed classic pack). A sealed store pack's files are chunks in an
// encrypted store instead (store_read.go): their paths keep the
// plaintext's name, their checksums are keyed hashes.
func (m *Manifest) sealedFiles() bool { return m.Sealed() && !m.IsStore() }

// SetKeys gives the Dir the identities that open a sealed pack's files
// (OpenFile, StageFile, full Verify). nil: none.
func (d *Dir) SetKeys(k *seal.Keys) { d.keys = k }

// Keys are the identities given with SetKeys (nil: none).
func (d *Dir) Keys() *seal.Keys { return d.keys }

// CheckKeys says whether the Dir's identities can open m's files, before
// anything is read or changed: nil for a plaintext pack or a matching
// identity; seal.ErrNoIdentity naming --age-identity when none was given;
// seal.ErrWrongIdentity naming the pack's recipients and the identities'
// public keys when none of them is a recipient.
func (d *Dir) CheckKeys(m *Manifest) error {
	if !m.Sealed() {
		return nil
	}
	return d.keys.CheckOpens(m.Encryption.Recipients)
}

// openSealed opens a sealed file and returns its plaintext: the
// ciphertext is checked against the manifest's size and sha256 as it
// streams, and the end of the plaintext is an error wrapping
// ErrSealedChanged when it differs (a damaged chunk fails earlier with
// seal.ErrDamaged).
func (d *Dir) openSealed(ctx context.Context, m *Manifest, f FileEntry) (io.ReadCloser, error) {
	if err := d.CheckKeys(m); err != nil {
		return nil, err
	}
	fh, err := d.openRegular(ctx, f)
	if err != nil {
		return nil, err
	}
	r, err := d.keys.Decrypt(ctx, fh, m.Encryption.Recipients)
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	// Opened on a goroutine of its own, ahead of the consumer (a tar
	// validator, the engine's import): decryption and the consumer's work
	// overlap on two cores.
	ra := newReadAhead(&sealedReader{r: r, fe: f})
	return &closeBoth{Reader: ra, close: func() error { ra.Close(); return fh.Close() }}, nil
}

// closeBoth is a reader with its own Close.
type closeBoth struct {
	io.Reader
	close func() error
}

func (c *closeBoth) Close() error { return c.close() }

// openRegular opens a listed file, refusing anything but a regular file of
// the recorded size.
func (d *Dir) openRegular(ctx context.Context, f FileEntry) (*os.File, error) {
	fi, err := d.Lstat(f.Path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", f.Path, fi.Mode())
	}
	if fi.Size() != f.Size {
		return nil, fmt.Errorf("%w: %s: size %d, the manifest records %d", ErrSealedChanged, f.Path, fi.Size(), f.Size)
	}
	return d.Open(ctx, f.Path)
}

// sealedReader is a sealed file's plaintext, its ciphertext checked at the end.
type sealedReader struct {
	r  *seal.Reader
	fe FileEntry
}

func (s *sealedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if errors.Is(err, io.EOF) {
		if dg := s.r.Digest(); dg.Size != s.fe.Size || dg.SHA256 != s.fe.SHA256 {
			return n, fmt.Errorf("%w: %s: ciphertext size %d sha256 %s, the manifest records size %d sha256 %s",
				ErrSealedChanged, s.fe.Path, dg.Size, dg.SHA256, s.fe.Size, s.fe.SHA256)
		}
	}
	return n, err
}

// stageSealed opens a sealed file into a private file in stagingDir (what
// sqlitesnap reads), removed by cleanup.
func (d *Dir) stageSealed(ctx context.Context, m *Manifest, f FileEntry, stagingDir string) (string, func(), error) {
	rc, err := d.openSealed(ctx, m, f)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	if err := os.MkdirAll(stagingDir, 0o700); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(stagingDir, "dockpack-open-*")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	p := dir + string(os.PathSeparator) + strings.TrimSuffix(lastElem(f.Path), SealedSuffix)
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = io.Copy(out, rc)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return p, cleanup, nil
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// sealedStructuralCheck checks a sealed file without an identity: a
// regular file of the recorded size, read once to its end for its
// ciphertext sha256 (seal.Inspect), which must be the manifest's; an age
// header with one stanza per recipient of the manifest, of their types.
func sealedStructuralCheck(ctx context.Context, d *Dir, m *Manifest, f FileEntry) (check.Check, error) {
	c := fileCheck(f, m)
	fh, ok := openPackFile(ctx, d, f, &c)
	if !ok {
		return c, nil
	}
	defer fh.Close()
	s, err := seal.Inspect(ctx, fh)
	if ctx.Err() != nil {
		return c, context.Cause(ctx)
	}
	want := stanzaTypes(m.Encryption.Recipients)
	switch {
	case err != nil && !errors.Is(err, seal.ErrDamaged) && !errors.Is(err, seal.ErrNotEncrypted):
		fail(&c, CodeReadError, err.Error())
	case s.Size != f.Size:
		differ(&c, CodeSizeMismatch, fmt.Sprintf("size %d", f.Size), fmt.Sprintf("size %d", s.Size), "the file changed while it was read")
	case s.SHA256 != f.SHA256:
		differ(&c, CodeSHA256Mismatch, "sha256 "+f.SHA256, "sha256 "+s.SHA256,
			"the sealed file differs from what was written (damaged or altered); the pack cannot be trusted")
	case err != nil:
		fail(&c, CodeStructure, err.Error())
	case !slices.Equal(s.Stanzas, want):
		differ(&c, CodeStructure, "age stanzas "+strings.Join(want, ","), "age stanzas "+strings.Join(s.Stanzas, ","),
			"the age header does not seal to the recipients the manifest lists")
	default:
		pass(&c, fmt.Sprintf("sealed (age, %d recipients): ciphertext sha256 and header checked without an identity", len(want)))
	}
	return c, nil
}

// stanzaTypes are the header stanza types a file sealed to recipients has.
func stanzaTypes(recipients []string) []string {
	out := make([]string, len(recipients))
	for i, r := range recipients {
		out[i] = "X25519"
		if r == seal.PassphraseRecipient {
			out[i] = "scrypt"
		}
	}
	return out
}

// sealedDeepCheck reads a sealed file once: its ciphertext hashed as age
// reads it (the manifest's size and sha256), its plaintext opened with the
// Dir's identities — ahead, on a goroutine of its own — and validated as
// deepCheck does a plaintext file. A missing or wrong identity is an error
// (the verdict stays open), not a failed check. It returns the ciphertext
// bytes read.
func sealedDeepCheck(ctx context.Context, d *Dir, m *Manifest, f FileEntry, o VerifyOptions, c *check.Check, prog io.Writer) (int64, error) {
	fh, ok := openPackFile(ctx, d, f, c)
	if !ok {
		return 0, nil
	}
	defer fh.Close()
	r, err := d.keys.Decrypt(ctx, io.TeeReader(fsutil.ContextReader(ctx, fh), prog), m.Encryption.Recipients)
	if err != nil {
		if errors.Is(err, seal.ErrNoIdentity) || errors.Is(err, seal.ErrWrongIdentity) || ctx.Err() != nil {
			return 0, err
		}
		return 0, damagedSealed(ctx, d, f, c, err)
	}
	ra := newReadAhead(r)
	defer ra.Close()
	fd, err := checkContent(ctx, ra, m, f, o)
	if err != nil {
		return 0, err
	}
	// The validators stop at the end of the archive: read the rest so that
	// the checksum covers every byte.
	if _, err := io.Copy(io.Discard, ra); err != nil {
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		if !errors.Is(err, seal.ErrDamaged) {
			fail(c, CodeReadError, fmt.Sprintf("read error: %v", err))
			return 0, nil
		}
		ra.Close()
		return f.Size, damagedSealed(ctx, d, f, c, err)
	}
	dg := r.Digest()
	if fd.code == "" {
		fd.detail += " (opened with an age identity)"
	}
	judge(c, f, dg.Size, dg.SHA256, fd)
	return dg.Size, nil
}

// damagedSealed judges a sealed file age could not open or read to its
// end (cause): by its ciphertext's sha256, hashed anew from the start — a
// difference from the manifest is the finding, else cause is.
func damagedSealed(ctx context.Context, d *Dir, f FileEntry, c *check.Check, cause error) error {
	fh, err := d.Open(ctx, f.Path)
	if err != nil {
		fail(c, CodeReadError, err.Error())
		return nil
	}
	defer fh.Close()
	hw := fsutil.NewHashWriter(nil)
	if _, err := io.Copy(hw, fsutil.ContextReader(ctx, fh)); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		fail(c, CodeReadError, err.Error())
		return nil
	}
	judge(c, f, hw.N(), hw.Sum(), finding{code: CodeStructure, problem: cause.Error()})
	return nil
}

// readAhead reads r on a goroutine of its own, up to raDepth buffers of
// raSize ahead of its reader: the producer's work (decryption and hashing)
// and the consumer's overlap. Close stops it (and waits for it); a reader
// must not use r after Close.
type readAhead struct {
	ch   chan raChunk
	done chan struct{}
	pool chan []byte
	wg   sync.WaitGroup
	cur  []byte
	buf  []byte // cur's buffer, back to the pool once read
	err  error
	once sync.Once
}

type raChunk struct {
	b   []byte
	err error
}

const (
	raSize  = 256 << 10
	raDepth = 4
)

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{ch: make(chan raChunk, raDepth), done: make(chan struct{}), pool: make(chan []byte, raDepth+2)}
	ra.wg.Add(1)
	go func() {
		defer ra.wg.Done()
		defer close(ra.ch)
		for {
			var b []byte
			select {
			case b = <-ra.pool:
			default:
				b = make([]byte, raSize)
			}
			n, err := io.ReadFull(r, b)
			if errors.Is(err, io.ErrUnexpectedEOF) && n > 0 {
				err = io.EOF
			}
			select {
			case ra.ch <- raChunk{b: b[:n], err: err}:
			case <-ra.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			select {
			case ra.pool <- ra.buf[:cap(ra.buf)]:
			default:
			}
			ra.buf = nil
		}
		c, ok := <-ra.ch
		if !ok {
			return 0, errors.New("read after close")
		}
		ra.cur, ra.buf, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it.
func (ra *readAhead) Close() {
	ra.once.Do(func() {
		close(ra.done)
		ra.wg.Wait()
	})
}
