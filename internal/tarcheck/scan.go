package tarcheck

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	units "github.com/docker/go-units"
)

const (
	blockSize   = 512      // tar block
	tailSize    = 8 << 10  // bytes remembered before an error, to find an appended engine error
	probeSize   = 64 << 10 // bytes read after an error, to find an appended engine error
	copyBufSize = 64 << 10 // read buffer for entry data
)

// incompleteError is a validation failure: its message says what is wrong
// with the stream; it wraps ErrIncomplete and, when there is one, the error
// that revealed the problem (a tar or read error).
type incompleteError struct {
	msg   string
	cause error
}

func (e *incompleteError) Error() string { return e.msg }

func (e *incompleteError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrIncomplete}
	}
	return []error{ErrIncomplete, e.cause}
}

func incomplete(cause error, format string, args ...any) error {
	return &incompleteError{msg: fmt.Sprintf(format, args...), cause: cause}
}

var sizeUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}

// humanBytes formats n like "1.2 GB" (decimal units, as docker does).
func humanBytes(n int64) string {
	return units.CustomSize("%.3g %s", float64(n), 1000.0, sizeUnits)
}

// countingReader counts the bytes consumed from r, remembers the last
// tailSize of them and checks ctx before every read. It deliberately does not
// implement io.Seeker, so archive/tar reads every byte through it.
type countingReader struct {
	ctx  context.Context
	r    io.Reader
	n    int64
	tail [tailSize]byte // ring buffer; the byte consumed at offset i is at tail[i%tailSize]
	err  error          // first error from r other than io.EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if n < 0 || n > len(p) { // a broken reader; never trust it
		n, err = 0, fmt.Errorf("reader returned an invalid count %d for a %d-byte buffer", n, len(p))
	}
	if n > 0 {
		c.remember(p[:n])
	}
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

func (c *countingReader) remember(p []byte) {
	if len(p) > tailSize {
		c.n += int64(len(p) - tailSize)
		p = p[len(p)-tailSize:]
	}
	for len(p) > 0 {
		i := int(c.n % tailSize)
		k := copy(c.tail[i:], p)
		p = p[k:]
		c.n += int64(k)
	}
}

// since returns the remembered bytes consumed at offsets ≥ off (at most the
// last tailSize bytes).
func (c *countingReader) since(off int64) []byte {
	if off >= c.n {
		return nil
	}
	if off < c.n-tailSize {
		off = c.n - tailSize
	}
	if off < 0 {
		off = 0
	}
	out := make([]byte, 0, c.n-off)
	for i := off; i < c.n; i++ {
		out = append(out, c.tail[i%tailSize])
	}
	return out
}

// scanner walks a tar stream with archive/tar and adds what archive/tar
// does not check: the end-of-archive marker, zero-only bytes after it, and
// engine errors appended to the stream.
type scanner struct {
	ctx       context.Context
	cr        *countingReader
	tr        *tar.Reader
	kind      string // "image archive" or "tar stream": starts every message
	truncated string // why a stream ends early, e.g. "the engine stopped sending (truncated export)"
	buf       []byte

	entries  int
	lastName string // last complete entry
	lastEnd  int64  // offset right after its data
	cur      *tar.Header
	curStart int64 // offset where the current entry's data begins
	curRead  int64 // logical data bytes of the current entry read so far
}

func newScanner(ctx context.Context, r io.Reader, kind, truncated string) *scanner {
	cr := &countingReader{ctx: ctx, r: r}
	return &scanner{
		ctx: ctx, cr: cr, tr: tar.NewReader(cr),
		kind: kind, truncated: truncated,
		buf: make([]byte, copyBufSize),
	}
}

func alignUp(n int64) int64 { return (n + blockSize - 1) &^ (blockSize - 1) }

// where describes the position for error messages.
func (s *scanner) where() string {
	if s.entries == 0 {
		return fmt.Sprintf("%d bytes read, no complete entry", s.cr.n)
	}
	return fmt.Sprintf("last complete entry %q ends at offset %d, %d bytes read", s.lastName, s.lastEnd, s.cr.n)
}

// next advances to the next entry. The previous entry's data must have been
// read to its end (readData/skipData). At the end of a complete archive it
// returns io.EOF; every other end is an error.
func (s *scanner) next() (*tar.Header, error) {
	if s.cur != nil {
		s.entries++
		s.lastName, s.lastEnd = s.cur.Name, alignUp(s.cr.n)
		s.cur = nil
	}
	start := s.cr.n
	h, err := s.tr.Next()
	if errors.Is(err, tar.ErrInsecurePath) { // GODEBUG tarinsecurepath=0: names are the callers' business
		err = nil
	}
	switch {
	case err == nil:
		s.cur, s.curStart, s.curRead = h, s.cr.n, 0
		return h, nil
	case err == io.EOF:
		// archive/tar also reports io.EOF when the stream simply stops at a
		// block boundary (no marker, or one zero block). The marker is there
		// only when exactly the padding of the previous entry plus two zero
		// blocks were consumed by this call.
		if s.cr.n == alignUp(start)+2*blockSize {
			return nil, s.drainTrailer()
		}
		if msg, ok := s.appendedError(0); ok {
			return nil, s.engineError(msg, nil)
		}
		return nil, incomplete(nil, "%s ends without the tar end-of-archive marker after %s: %s (%s)",
			s.kind, humanBytes(s.cr.n), s.truncated, s.where())
	default:
		return nil, s.headerError(alignUp(start), err)
	}
}

// headerError turns an error from tar.Reader.Next into a validation error.
func (s *scanner) headerError(hdrOff int64, err error) error {
	if e := s.ctxErr(); e != nil {
		return e
	}
	if msg, ok := s.appendedError(hdrOff); ok {
		return s.engineError(msg, err)
	}
	if s.cr.err != nil {
		return s.readError()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		if s.entries == 0 && hdrOff == 0 {
			return incomplete(err, "%s: not a tar archive: the stream ends after %d bytes, inside its first header", s.kind, s.cr.n)
		}
		return incomplete(err, "%s ends inside a tar header at offset %d after %s: %s (%s)",
			s.kind, hdrOff, humanBytes(s.cr.n), s.truncated, s.where())
	}
	if s.entries == 0 && hdrOff == 0 {
		return incomplete(err, "%s: not a tar archive: the stream does not start with a tar header (%v)", s.kind, err)
	}
	return incomplete(err, "%s is damaged at offset %d: not a valid tar header (%v; %s)", s.kind, hdrOff, err, s.where())
}

// dataError turns an error while reading the current entry's data into a
// validation error.
func (s *scanner) dataError(err error) error {
	if e := s.ctxErr(); e != nil {
		return e
	}
	if msg, ok := s.appendedError(s.curStart); ok {
		return s.engineError(msg, err)
	}
	if s.cr.err != nil {
		return s.readError()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return incomplete(err, "%s ends inside entry %q after %s (%d of its %d bytes present): %s (%s)",
			s.kind, s.cur.Name, humanBytes(s.cr.n), s.curRead, s.cur.Size, s.truncated, s.where())
	}
	return incomplete(err, "%s is damaged in entry %q at offset %d: %v (%s)", s.kind, s.cur.Name, s.cr.n, err, s.where())
}

func (s *scanner) ctxErr() error {
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("%s: stopped after %s: %w", s.kind, humanBytes(s.cr.n), err)
	}
	return nil
}

func (s *scanner) readError() error {
	return incomplete(s.cr.err, "%s: reading the stream failed after %s: %v (%s)", s.kind, humanBytes(s.cr.n), s.cr.err, s.where())
}

func (s *scanner) engineError(msg string, cause error) error {
	return incomplete(cause, "engine error appended to the archive: %s (%s after %s; %s)", msg, s.kind, humanBytes(s.cr.n), s.where())
}

// readData calls fn with successive chunks of the current entry's data until
// its end. fn may be nil (skip). A non-nil error from fn is returned as is.
func (s *scanner) readData(fn func([]byte) error) error {
	for {
		n, err := s.tr.Read(s.buf)
		s.curRead += int64(n)
		if n > 0 && fn != nil {
			if ferr := fn(s.buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return s.dataError(err)
		}
	}
}

// readAll reads the current entry's data (whose size the caller has bounded).
func (s *scanner) readAll(dst []byte) ([]byte, error) {
	dst = dst[:0]
	err := s.readData(func(p []byte) error {
		dst = append(dst, p...)
		return nil
	})
	return dst, err
}

// drainTrailer reads what follows the end-of-archive marker: only zero bytes
// (record padding) may follow. Returns io.EOF when all is well.
func (s *scanner) drainTrailer() error {
	markerEnd := s.cr.n
	for {
		n, err := s.cr.Read(s.buf)
		if i := firstNonZero(s.buf[:n]); i >= 0 {
			off := s.cr.n - int64(n) + int64(i)
			junk := append([]byte(nil), s.buf[i:n]...)
			var eof bool
			if err == nil {
				junk, eof = s.readMore(junk)
			} else {
				eof = err == io.EOF
			}
			if msg, ok := parseEngineError(junk, eof); ok {
				return incomplete(nil, "engine error appended to the archive: %s (after the %s end-of-archive marker at offset %d)", msg, s.kind, markerEnd)
			}
			return incomplete(nil, "%s has non-zero data at offset %d after its end-of-archive marker at offset %d (expected only zero padding): %s",
				s.kind, off, markerEnd, quoteSnippet(junk))
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			if e := s.ctxErr(); e != nil {
				return e
			}
			return s.readError()
		}
	}
}

func firstNonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return -1
}

// readMore appends up to probeSize more bytes of the stream to b and reports
// whether the stream ended.
func (s *scanner) readMore(b []byte) ([]byte, bool) {
	lim := len(b) + probeSize
	for len(b) < lim {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		end := min(cap(b), lim)
		n, err := s.cr.Read(b[len(b):end])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, true
		}
		if err != nil {
			return b, false
		}
	}
	return b, false
}

// appendedError looks for an engine error appended to the stream: the
// bytes from offset from on (as far as remembered) plus a bounded read of
// what follows.
func (s *scanner) appendedError(from int64) (string, bool) {
	if s.ctx.Err() != nil || s.cr.err != nil {
		return "", false
	}
	b, eof := s.readMore(s.cr.since(from))
	return parseEngineError(b, eof)
}

// parseEngineError finds a JSON error object as the Engine appends it
// (`{"errorDetail":{"message":...},"error":...}`) at the end of b. It must be
// followed only by white space or NUL bytes, and b must end at the end of
// the stream (eof), so that file content that merely contains such JSON is not
// taken for it.
func parseEngineError(b []byte, eof bool) (string, bool) {
	if !eof {
		return "", false
	}
	i := bytes.LastIndex(b, []byte(`{"errorDetail"`))
	if i < 0 {
		i = bytes.LastIndex(b, []byte(`{"error"`))
	}
	if i < 0 {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(b[i:]))
	var m struct {
		Error       string `json:"error"`
		ErrorDetail *struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
	}
	if err := dec.Decode(&m); err != nil {
		return "", false
	}
	rest := b[i+int(dec.InputOffset()):]
	if len(bytes.TrimFunc(rest, func(r rune) bool { return r == 0 || unicode.IsSpace(r) })) > 0 {
		return "", false
	}
	msg := m.Error
	if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
		msg = m.ErrorDetail.Message
	}
	if msg == "" {
		msg = strings.TrimSpace(string(b[i:]))
	}
	return msg, true
}

// quoteSnippet quotes the start of b for an error message.
func quoteSnippet(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q… (%d+ bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}
