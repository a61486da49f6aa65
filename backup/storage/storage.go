// Package storage is where packs live: a small interface every target
// implements — a verified local or mounted directory (backup/storage/local,
// through the directory handle pinned at the check, never by path) and
// S3-compatible object storage (backup/storage/s3) — and the rules they
// share. The pack formats (classic packs, the pack store) are written on
// top of it and never learn which backend they have.
//
// Keys are slash-separated paths relative to the target ("blobs/ab/…",
// "migration_pack_20261205_101500_000/manifest.json"): no leading slash,
// no empty, "." or ".." segment, no backslash (ValidKey). A backend has no
// directories a caller must create; listing a prefix is the only way to
// see a "directory".
//
// Atomicity is per object: what Create returns is invisible under its key
// until Commit returns, and then complete (local: a temporary name, fsync,
// rename, fsync of the directory; S3: a completed multipart upload). A crash
// or Abort leaves at most an upload in progress, owned and tagged, that
// AbortStale removes once its owner is dead. A pack is therefore complete
// when the object that names it last (its manifest.json) exists.
package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Errors of every backend, matched with errors.Is.
var (
	// ErrNotExist: no object under the key (wraps fs.ErrNotExist).
	ErrNotExist = fs.ErrNotExist
	// ErrExists: an exclusive Create found the key taken at Commit.
	ErrExists = fs.ErrExist
	// ErrInvalidKey: a key that is not a valid relative slash path.
	ErrInvalidKey = errors.New("invalid storage key")
	// ErrUnavailable: the target cannot be reached or is not the one that
	// was verified (a dropped mount reports mountcheck.ErrMountChanged,
	// which a backend wraps too).
	ErrUnavailable = errors.New("storage unavailable")
)

// Info describes one object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
	// Meta is the object's metadata given at Create (S3 user metadata;
	// local: not kept, nil).
	Meta map[string]string
}

// CreateOptions configure one object's creation.
type CreateOptions struct {
	// Exclusive makes Commit fail with ErrExists when the key exists
	// (local: link/rename without replace; S3: If-None-Match: *, or the
	// backend's documented fallback). Locks rely on it.
	Exclusive bool
	// Mode of a local file (and of the directories created for it: the same
	// read bits plus search). Default 0600. Ignored by object storage.
	Mode os.FileMode
	// Meta is stored with the object where the backend can (S3 metadata).
	Meta map[string]string
	// SizeHint is the expected size when known (-1 or 0: unknown); object
	// storage chooses its part size from it.
	SizeHint int64
}

// Upload is an object being written: invisible until Commit.
type Upload interface {
	io.Writer
	// Commit makes the object visible under its key, durable, and returns
	// its info. After an error from Write or Commit, call Abort.
	Commit(ctx context.Context) (Info, error)
	// Abort discards what was written. It is safe after Commit (a no-op)
	// and more than once.
	Abort(ctx context.Context) error
}

// Backend is one target. Every method takes the caller's ctx; a canceled
// ctx aborts what is in progress and leaves nothing visible.
type Backend interface {
	// Location names the target for messages and logs, without secrets
	// ("/mnt/replica/packs", "s3://bucket/prefix").
	Location() string
	// Create starts writing key.
	Create(ctx context.Context, key string, o CreateOptions) (Upload, error)
	// Open reads the object under key from offset (0: from the start);
	// length < 0 reads to its end.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat describes the object under key.
	Stat(ctx context.Context, key string) (Info, error)
	// List calls fn for every object whose key starts with prefix, in
	// lexical order of keys; fn's error stops the listing and is returned.
	// Uploads in progress are not listed.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Remove deletes the object under key; a missing object is not an error.
	Remove(ctx context.Context, key string) error
	// Check re-checks that the target is the one that was verified (the
	// mount pin; the bucket's reachability): ErrUnavailable otherwise.
	Check(ctx context.Context) error
	// AbortStale discards the uploads in progress whose owner (the token
	// the backend was opened with) dead says is dead, and returns how many.
	AbortStale(ctx context.Context, dead func(owner string) bool) (int, error)
	// Close releases the backend (the pinned handle; idle connections).
	Close() error
}

// Renamer is implemented by backends that rename a whole prefix
// atomically (a local directory): a classic pack is written under a
// partial name and renamed complete. Backends without it make a pack
// complete by writing its manifest last.
type Renamer interface {
	RenamePrefix(ctx context.Context, from, to string) error
}

// ValidKey reports whether key is a valid object key.
func ValidKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || strings.ContainsRune(key, 0) {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// WriteObject writes r under key in one Create/Commit, aborting on error.
func WriteObject(ctx context.Context, b Backend, key string, r io.Reader, o CreateOptions) (Info, error) {
	u, err := b.Create(ctx, key, o)
	if err != nil {
		return Info{}, err
	}
	if _, err := io.Copy(u, r); err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return Info{}, err
	}
	info, err := u.Commit(ctx)
	if err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return Info{}, err
	}
	return info, nil
}

// ReadObject reads the whole object under key, refusing one larger than max bytes.
func ReadObject(ctx context.Context, b Backend, key string, max int64) ([]byte, error) {
	rc, err := b.Open(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errors.New("storage: " + key + " is larger than expected")
	}
	return data, nil
}
