package seal

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// Sealed is what can be told of a sealed file without an identity.
type Sealed struct {
	Digest
	// Stanzas are the types of the header's recipient stanzas, one per
	// recipient ("X25519", "scrypt"): a file sealed to the three recipients
	// a manifest lists has three X25519 stanzas.
	Stanzas []string
}

// minPayload is the smallest payload age writes: a 16-byte nonce and one
// (possibly empty) chunk's 16-byte tag.
const minPayload = 32

// Inspect reads a sealed stream to its end without an identity, as
// structural verification does: it checks that it starts with a
// well-formed age header and carries at least one chunk, and returns the
// ciphertext's sha256 and size and the header's stanza types. A stream
// that is not age fails with ErrNotEncrypted, one too short with
// ErrDamaged. Whether the chunks authenticate is known only with an
// identity (Decrypt); the sha256 against a manifest's is the check
// without one.
func Inspect(ctx context.Context, src io.Reader) (Sealed, error) {
	c := newCounter()
	h := hashingReader{r: &ctxReader{ctx: ctx, r: src}, c: c}
	hdr, err := age.ExtractHeader(h)
	if err != nil {
		if ctx.Err() != nil {
			return Sealed{}, ctx.Err()
		}
		return Sealed{}, fmt.Errorf("%w: %w", ErrNotEncrypted, err)
	}
	if _, err := io.Copy(io.Discard, h); err != nil {
		return Sealed{}, err
	}
	s := Sealed{Digest: Digest{SHA256: c.sum(), Size: c.n, PlainSize: -1}}
	if c.n-int64(len(hdr)) < minPayload {
		return s, fmt.Errorf("%w: %d bytes of payload after the header, at least %d expected", ErrDamaged, c.n-int64(len(hdr)), minPayload)
	}
	sc := bufio.NewScanner(bytes.NewReader(hdr))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "-> "); ok {
			typ, _, _ := strings.Cut(rest, " ")
			s.Stanzas = append(s.Stanzas, typ)
		}
	}
	return s, nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
