package tarcheck

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
)

// maxExtended bounds the extended headers (PAX records, GNU long names)
// before one member's header.
const maxExtended = 1 << 20

// A Walker follows a tar stream that is pushed through it (Feed), as the
// stream passes on to its reader, without holding or copying it: it parses
// each header as it comes, skips each member's content, and hands over the
// content of the members its caller keeps (small files: an image archive's
// configs and manifest.json). Headers are read as archive/tar reads them
// (PAX records and GNU long names included).
//
// Feed reports the end-of-archive marker in the call that completes its
// first zero block — before the caller passes that block on. A reader that
// guards a stream (restore's image load) checks what it kept then, and
// withholds the end when the check fails: the receiver never sees a
// complete archive that failed it.
type Walker struct {
	// Keep says whether a member's content is kept (called with each
	// header; only regular files are kept).
	Keep func(h *tar.Header) bool
	// Max bounds a kept member's content (bigger fails the walk).
	Max int64
	// Member is called for every member once its content has passed,
	// content nil unless kept. Its error ends the walk.
	Member func(h *tar.Header, content []byte) error

	off     int64
	blk     [blockSize]byte
	bn      int    // bytes of blk filled
	at      int64  // offset of blk in the stream
	ext     []byte // extended headers and their content, waiting for their member's header
	extLeft int64  // content (padding included) of an extended header still to collect
	cur     *tar.Header
	left    int64 // content of cur still to pass
	pad     int64 // its padding after it
	content []byte
	keep    bool
	ended   bool
	err     error
}

// Feed walks p, the next bytes of the stream. ended is true once the
// end-of-archive marker's first zero block is complete (p completed it or
// an earlier call did); what follows it is not parsed. An error (a header
// that is not one, an unsupported member, Member's error) ends the walk.
func (w *Walker) Feed(p []byte) (ended bool, err error) {
	for len(p) > 0 && !w.ended && w.err == nil {
		var n int
		switch {
		case w.extLeft > 0:
			n = int(min(int64(len(p)), w.extLeft))
			w.ext = append(w.ext, p[:n]...)
			w.extLeft -= int64(n)
		case w.left > 0:
			n = int(min(int64(len(p)), w.left))
			if w.keep {
				w.content = append(w.content, p[:n]...)
			}
			w.left -= int64(n)
			if w.left == 0 {
				w.err = w.done()
			}
		case w.pad > 0:
			n = int(min(int64(len(p)), w.pad))
			w.pad -= int64(n)
		default:
			if w.bn == 0 {
				w.at = w.off
			}
			n = copy(w.blk[w.bn:], p)
			w.bn += n
			if w.bn == blockSize {
				w.bn = 0
				w.err = w.header()
			}
		}
		p = p[n:]
		w.off += int64(n)
	}
	return w.ended, w.err
}

// Finish is called at the stream's end: it fails unless the end-of-archive
// marker came (a stream cut short).
func (w *Walker) Finish() error {
	if w.err != nil || w.ended {
		return w.err
	}
	if w.cur != nil && (w.left > 0 || w.pad > 0) {
		return incomplete(io.ErrUnexpectedEOF, "tar stream ends inside entry %q after %s (%d of its %d bytes missing): the file is cut short", w.cur.Name, humanBytes(w.off), w.left, w.cur.Size)
	}
	return incomplete(io.ErrUnexpectedEOF, "tar stream ends after %s without its end-of-archive marker: the file is cut short", humanBytes(w.off))
}

// header handles a complete header block.
func (w *Walker) header() error {
	at := w.at
	if w.blk == [blockSize]byte{} {
		if len(w.ext) > 0 {
			return incomplete(nil, "tar stream: an extended header at offset %d has no entry after it", at)
		}
		w.ended = true
		return nil
	}
	switch w.blk[156] {
	case tar.TypeXHeader, tar.TypeXGlobalHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		size, ok := octalSize(w.blk[124:136])
		if !ok || int64(len(w.ext))+blockSize+size > maxExtended {
			return incomplete(nil, "tar stream: extended header at offset %d with an unreadable or too large size (at most %d bytes)", at, maxExtended)
		}
		w.ext = append(w.ext, w.blk[:]...)
		w.extLeft = (size + blockSize - 1) &^ (blockSize - 1)
		return nil
	}
	tr := tar.NewReader(bytes.NewReader(append(w.ext, w.blk[:]...)))
	w.ext = nil
	var h *tar.Header
	for {
		var err error
		if h, err = tr.Next(); err != nil {
			return incomplete(err, "tar stream: no valid header at offset %d: %v", at, err)
		}
		if h.Typeflag != tar.TypeXGlobalHeader {
			break
		}
	}
	size := h.Size
	switch h.Typeflag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		size = 0 // header only, as archive/tar reads it
	case tar.TypeGNUSparse:
		return incomplete(nil, "tar stream: entry %q at offset %d is a sparse file, which an image archive does not hold", h.Name, at)
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return incomplete(nil, "tar stream: entry %q at offset %d is a sparse file, which an image archive does not hold", h.Name, at)
		}
	}
	if size < 0 {
		return incomplete(nil, "tar stream: entry %q at offset %d has a negative size", h.Name, at)
	}
	w.cur, w.left, w.pad = h, size, ((size+blockSize-1)&^(blockSize-1))-size
	w.keep = h.Typeflag == tar.TypeReg && w.Keep != nil && w.Keep(h)
	w.content = nil
	if w.keep {
		if size > w.Max {
			return incomplete(nil, "tar stream: entry %q is %d bytes, more than the %d kept of such a file", h.Name, size, w.Max)
		}
		w.content = make([]byte, 0, size)
	}
	if size == 0 {
		return w.done()
	}
	return nil
}

// done hands the current member over.
func (w *Walker) done() error {
	if w.Member == nil {
		return nil
	}
	err := w.Member(w.cur, w.content)
	w.content = nil
	return err
}

// octalSize parses an extended header's size field (octal digits, spaces
// and NULs around them).
func octalSize(b []byte) (int64, bool) {
	s := strings.Trim(string(b), " \x00")
	if s == "" || len(s) > 11 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n*8 + int64(c-'0')
	}
	return n, true
}
