// Package fsutil holds the small file-system helpers every dockpack package
// shares: atomic file replacement (temp name in the same directory, fsync,
// rename, fsync of the directory) and a writer that hashes and counts what
// passes through it, so checksums are computed while streaming.
package fsutil

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// SyncDir fsyncs a directory so that a rename or create inside it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// TempName is the prefix of the temporary files WriteAtomic creates; a file
// carrying it is never a finished file.
const TempName = ".dockpack-tmp-"

// WriteAtomic creates path with perm by calling fill with a temporary file in
// the same directory, then fsyncs it, renames it over path and fsyncs the
// directory. If fill or any step fails, or ctx is done before the rename, the
// temporary file is removed and path is left untouched.
func WriteAtomic(ctx context.Context, path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempName+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// WriteFileAtomic is WriteAtomic for data already in memory.
func WriteFileAtomic(ctx context.Context, path string, data []byte, perm os.FileMode) error {
	return WriteAtomic(ctx, path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// HashWriter counts and sha256-hashes the bytes written through it to W.
type HashWriter struct {
	W io.Writer
	n int64
	h hash.Hash
}

// NewHashWriter returns a HashWriter writing to w (which may be nil to only hash).
func NewHashWriter(w io.Writer) *HashWriter { return &HashWriter{W: w, h: sha256.New()} }

func (hw *HashWriter) Write(p []byte) (int, error) {
	n := len(p)
	var err error
	if hw.W != nil {
		n, err = hw.W.Write(p)
	}
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// N is the number of bytes written so far.
func (hw *HashWriter) N() int64 { return hw.n }

// Sum is the lowercase hex sha256 of the bytes written so far.
func (hw *HashWriter) Sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }

// HashFile streams the file at path through sha256 and returns its hex digest
// and size. It honours ctx between reads.
func HashFile(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	hw := NewHashWriter(nil)
	if _, err := io.Copy(hw, ContextReader(ctx, f)); err != nil {
		return "", 0, err
	}
	return hw.Sum(), hw.N(), nil
}

// ContextReader returns a reader that fails with ctx.Err() once ctx is done.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return &ctxReader{ctx: ctx, r: r} }

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

// RemoveAllQuiet removes path and reports only errors other than "not exist".
func RemoveAllQuiet(path string) error {
	err := os.RemoveAll(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Abs makes a non-empty path absolute (relative to the working directory),
// so that messages, manifests and mount checks name one path; it returns p
// unchanged when it is empty or cannot be made absolute.
func Abs(p string) string {
	if p == "" {
		return p
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
