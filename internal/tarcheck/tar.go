package tarcheck

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"strings"
)

const tarTruncated = "the sender stopped or the file is cut short (truncated)"

// ValidateTar reads a tar stream to its end and checks it: headers
// well-formed, every entry's data fully present, the end-of-archive marker
// (two zero blocks) present, only zero bytes after it. Failures wrap
// ErrIncomplete and name the last complete entry and the offset; a cancelled
// ctx (checked before every read) returns an error wrapping ctx.Err(). The
// summary counts what was read, also on error. Memory does not grow with the
// stream.
func ValidateTar(ctx context.Context, r io.Reader) (TarSummary, error) {
	s := newScanner(ctx, r, "tar stream", tarTruncated)
	var sum TarSummary
	for {
		h, err := s.next()
		if err != nil {
			sum.Bytes = s.cr.n
			if err == io.EOF {
				err = nil
			}
			return sum, err
		}
		sum.add(h)
		if err := s.readData(nil); err != nil {
			sum.Bytes = s.cr.n
			return sum, err
		}
	}
}

func (sum *TarSummary) add(h *tar.Header) {
	sum.Entries++
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		sum.Files++
		sum.ContentBytes += h.Size
	case tar.TypeDir:
		sum.Dirs++
	case tar.TypeSymlink:
		sum.Symlinks++
	case tar.TypeLink:
		sum.HardLinks++
	default:
		sum.Others++
	}
}

// RebaseTar reads a tar as the Engine's CopyFromContainer emits it for a
// directory: the first entry is the directory itself ("data/" for a container
// path ".../data") and every other entry lies under it. It writes to w a tar
// whose entries are relative to that directory: the root becomes "./",
// "data/x" becomes "x" (directories keep a trailing "/"), and hard-link
// targets are rewritten the same way. Modes, uid/gid, uname/gname, mtimes
// (with the input's precision), xattrs and other PAX records, symlink targets
// and device numbers are kept. The root name is taken from the first entry.
//
// An entry outside the root, an absolute name or a ".." component (in a name
// or a hard-link target) is an error, as is an input that is not a directory
// tree. The input is validated like ValidateTar, including its end-of-archive
// marker; the output gets its own end-of-archive marker only when the input
// was complete, so on any error the partial output is the caller's to
// discard. Validation failures wrap ErrIncomplete; a failed write to w is
// returned wrapped as it is (not ErrIncomplete). The summary describes the input.
func RebaseTar(ctx context.Context, r io.Reader, w io.Writer) (TarSummary, error) {
	ew := &errWriter{w: w}
	rb := &rebaser{s: newScanner(ctx, r, "tar stream", tarTruncated), ew: ew, tw: tar.NewWriter(ew)}
	err := rb.run()
	rb.sum.Bytes = rb.s.cr.n
	return rb.sum, err
}

// rebaser is the state of RebaseTar.
type rebaser struct {
	s    *scanner
	ew   *errWriter
	tw   *tar.Writer
	root string // the exported directory: the first entry's name, cleaned
	sum  TarSummary
}

// run copies every entry, then the end-of-archive marker.
func (rb *rebaser) run() error {
	for {
		h, err := rb.s.next()
		if err == io.EOF {
			return rb.finish()
		}
		if err != nil {
			return err
		}
		rb.sum.add(h)
		if err := rb.entry(h); err != nil {
			return err
		}
	}
}

// finish writes the end-of-archive marker of a complete input.
func (rb *rebaser) finish() error {
	if rb.root == "" {
		return incomplete(nil, "tar stream has no entries: expected the exported directory as its first entry")
	}
	if err := rb.tw.Close(); err != nil {
		return rb.writeFailed("end-of-archive marker", err)
	}
	return nil
}

// writeFailed tells a failed write to w (returned as is) from a header
// archive/tar cannot encode again (a problem of the input).
func (rb *rebaser) writeFailed(what string, err error) error {
	if rb.ew.err != nil {
		return fmt.Errorf("writing the rebased tar (%s): %w", what, rb.ew.err)
	}
	return incomplete(err, "tar stream %s cannot be written again as a tar entry: %v", what, err)
}

// entry writes the rebased header of h and copies its data.
func (rb *rebaser) entry(h *tar.Header) error {
	if h.Typeflag == tar.TypeXGlobalHeader { // archive-wide PAX records: pass through
		if err := rb.tw.WriteHeader(&tar.Header{Typeflag: h.Typeflag, Name: h.Name, PAXRecords: h.PAXRecords, Format: tar.FormatPAX}); err != nil {
			return rb.writeFailed(fmt.Sprintf("global header %q", h.Name), err)
		}
		return nil
	}
	out, err := rb.header(h)
	if err != nil {
		return err
	}
	if err := writeHeader(rb.tw, out); err != nil {
		return rb.writeFailed(fmt.Sprintf("entry %q", h.Name), err)
	}
	return rb.s.readData(func(p []byte) error {
		if _, err := rb.tw.Write(p); err != nil {
			return rb.writeFailed(fmt.Sprintf("entry %q", h.Name), err)
		}
		return nil
	})
}

// header checks h's name (and hard-link target) and returns the header to
// write, relative to the root; the first entry sets the root.
func (rb *rebaser) header(h *tar.Header) (*tar.Header, error) {
	if err := checkName(h.Name, "entry"); err != nil {
		return nil, err
	}
	if rb.root == "" {
		if h.Typeflag != tar.TypeDir {
			return nil, incomplete(nil, "tar stream's first entry %q is not a directory (type %q): expected the exported directory itself", h.Name, h.Typeflag)
		}
		rb.root = path.Clean(h.Name)
	}
	rel, ok := rebaseName(rb.root, h.Name)
	if !ok {
		return nil, incomplete(nil, "tar stream entry %q lies outside the exported directory %q", h.Name, rb.root+"/")
	}
	out := rebasedHeader(h)
	switch {
	case rel == "" && h.Typeflag != tar.TypeDir:
		return nil, incomplete(nil, "tar stream entry %q has the exported directory's name but is not a directory", h.Name)
	case rel == "":
		out.Name = "./"
	case h.Typeflag == tar.TypeDir:
		out.Name = rel + "/"
	default:
		out.Name = rel
	}
	if h.Typeflag == tar.TypeLink {
		if err := checkName(h.Linkname, "hard-link target of "+h.Name); err != nil {
			return nil, err
		}
		t, ok := rebaseName(rb.root, h.Linkname)
		if !ok || t == "" {
			return nil, incomplete(nil, "tar stream entry %q is a hard link to %q, outside the exported directory %q", h.Name, h.Linkname, rb.root+"/")
		}
		out.Linkname = t
	}
	return out, nil
}

// checkName rejects absolute names and ".." components.
func checkName(name, what string) error {
	if strings.HasPrefix(name, "/") {
		return incomplete(nil, "tar stream %s %q is an absolute path", what, name)
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == ".." {
			return incomplete(nil, "tar stream %s %q has a \"..\" component", what, name)
		}
	}
	if name == "" {
		return incomplete(nil, "tar stream %s has an empty name", what)
	}
	return nil
}

// rebaseName returns name relative to root ("" for root itself), or false when
// it lies outside root. name has passed checkName.
func rebaseName(root, name string) (string, bool) {
	c := path.Clean(name)
	switch {
	case c == root:
		return "", true
	case root == ".":
		return c, true
	}
	rest, ok := strings.CutPrefix(c, root+"/")
	return rest, ok
}

// rebasedHeader copies the fields of h that are kept (the tar package asks
// for a fresh Header rather than a mutated one from Reader.Next).
func rebasedHeader(h *tar.Header) *tar.Header {
	out := &tar.Header{
		Typeflag:   h.Typeflag,
		Linkname:   h.Linkname,
		Size:       h.Size,
		Mode:       h.Mode,
		Uid:        h.Uid,
		Gid:        h.Gid,
		Uname:      h.Uname,
		Gname:      h.Gname,
		ModTime:    h.ModTime,
		AccessTime: h.AccessTime,
		ChangeTime: h.ChangeTime,
		Devmajor:   h.Devmajor,
		Devminor:   h.Devminor,
		Format:     h.Format,
	}
	switch out.Typeflag {
	case tar.TypeGNUSparse, tar.TypeCont: // the data read is the logical (expanded) content
		out.Typeflag = tar.TypeReg
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		out.Size = 0 // header-only types: archive/tar reads no data for them
	}
	if len(h.PAXRecords) > 0 {
		out.PAXRecords = maps.Clone(h.PAXRecords)
		for k := range out.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				delete(out.PAXRecords, k)
			}
		}
	}
	return out
}

// writeHeader writes h in the input's format when it can still encode it
// (keeping, e.g., sub-second PAX mtimes), else in PAX, else in any format.
func writeHeader(tw *tar.Writer, h *tar.Header) error {
	err := tw.WriteHeader(h)
	if err == nil || h.Format == tar.FormatPAX {
		return err
	}
	for _, f := range []tar.Format{tar.FormatPAX, tar.FormatUnknown} {
		h.Format = f
		if err2 := tw.WriteHeader(h); err2 == nil {
			return nil
		}
	}
	return err
}

// errWriter remembers the first error of w.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}
