package pack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
)

// ChunkList is a store pack's file as chunks (chunks/<path>.json).
type ChunkList struct {
	Path   string        `json:"path"`
	Size   int64         `json:"size"`
	SHA256 string        `json:"sha256"`
	Chunks []store.Chunk `json:"chunks"`
}

// ErrChunkList marks a chunk list that is missing or disagrees with the manifest.
var ErrChunkList = errors.New("invalid chunk list")

// openedStore is the store of a pack's target, opened for reading.
type openedStore struct {
	b       *local.Backend
	st      *store.Store
	present map[string]int64 // the bundles, listed once
}

func (o *openedStore) close() {
	o.st.Close()
	o.b.Close()
}

// Store opens the pack store of the target holding the pack (its parent
// directory, pinned), with its index loaded; the Dir closes it.
func (d *Dir) Store(ctx context.Context) (*store.Store, error) {
	if d.store != nil {
		return d.store.st, nil
	}
	b, err := local.Open(ctx, local.Options{Dir: filepath.Dir(d.path)})
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, b, store.Options{})
	if err != nil {
		b.Close()
		return nil, err
	}
	if err := st.LoadIndex(ctx); err != nil {
		st.Close()
		b.Close()
		return nil, err
	}
	d.store = &openedStore{b: b, st: st}
	return st, nil
}

// ReadChunkList reads the chunk list of a store pack's file and checks it
// against the manifest's entry (its sha256, the file's size and sha256).
func (d *Dir) ReadChunkList(ctx context.Context, f FileEntry) (*ChunkList, error) {
	if f.Chunks == nil {
		return nil, fmt.Errorf("%w: %s has no chunk list", ErrChunkList, f.Path)
	}
	fh, err := d.Open(ctx, f.Chunks.List)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrChunkList, f.Chunks.List, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrChunkList, f.Chunks.List, err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.Chunks.ListSHA256 {
		return nil, fmt.Errorf("%w: %s: its sha256 differs from the manifest's (damaged or altered)", ErrChunkList, f.Chunks.List)
	}
	var l ChunkList
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrChunkList, f.Chunks.List, err)
	}
	var n int64
	for _, c := range l.Chunks {
		n += c.Size
	}
	if l.Path != f.Path || l.Size != f.Size || l.SHA256 != f.SHA256 || n != f.Size || len(l.Chunks) != f.Chunks.Count {
		return nil, fmt.Errorf("%w: %s disagrees with the manifest (path, size, sha256 or chunk count)", ErrChunkList, f.Chunks.List)
	}
	return &l, nil
}

// OpenFile reads a listed file of the pack: a classic pack's file (a
// regular file of the recorded size), or a store pack's file streamed from
// its chunks, each checked as it comes (a damaged one fails the read with a
// *store.BlobError).
func (d *Dir) OpenFile(ctx context.Context, m *Manifest, f FileEntry) (io.ReadCloser, error) {
	return d.openFile(ctx, m, f, false)
}

// openFile is OpenFile; trusted reads a store file's chunks without
// hashing each against its id (store.Store.OpenFileTrusted: the consumer
// checks the whole content).
func (d *Dir) openFile(ctx context.Context, m *Manifest, f FileEntry, trusted bool) (io.ReadCloser, error) {
	if m.sealedFiles() { // the plaintext of a sealed file, its ciphertext checked (sealed.go)
		return d.openSealed(ctx, m, f)
	}
	if !m.IsStore() {
		fi, err := d.Lstat(f.Path)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file (%s)", f.Path, fi.Mode())
		}
		return d.Open(ctx, f.Path)
	}
	l, err := d.ReadChunkList(ctx, f)
	if err != nil {
		return nil, err
	}
	st, err := d.readStore(ctx, m)
	if err != nil {
		return nil, err
	}
	if trusted {
		return st.OpenFileTrusted(ctx, l.Chunks), nil
	}
	return st.OpenFile(ctx, l.Chunks), nil
}

// readStore is the store whose content a store pack's reads open: an
// encrypted store gets the Dir's identities (store.Unseal recovers its
// naming key; none is seal.ErrNoIdentity, a wrong one
// seal.ErrWrongIdentity naming the pack's recipients).
func (d *Dir) readStore(ctx context.Context, m *Manifest) (*store.Store, error) {
	st, err := d.Store(ctx)
	if err != nil || !st.Sealed() {
		return st, err
	}
	var expected []string
	if m.Encryption != nil {
		expected = m.Encryption.Recipients
		if err := d.CheckKeys(m); err != nil {
			return nil, err
		}
	}
	if err := st.Unseal(ctx, d.keys, expected); err != nil {
		return nil, err
	}
	return st, nil
}

// StageFile gives an opener of a listed file as a regular file (what
// sqlitesnap.Restore reads): a classic pack's own file, or a store pack's
// file assembled into a private directory in stagingDir (removed by cleanup).
func (d *Dir) StageFile(ctx context.Context, m *Manifest, f FileEntry, stagingDir string) (open func(string) (*os.File, error), cleanup func(), err error) {
	if m.sealedFiles() { // opened into stagingDir (sealed.go)
		p, cleanup, err := d.stageSealed(ctx, m, f, stagingDir)
		if err != nil {
			return nil, nil, err
		}
		return func(string) (*os.File, error) { return os.Open(p) }, cleanup, nil
	}
	if !m.IsStore() {
		return func(string) (*os.File, error) { return d.Open(ctx, f.Path) }, func() {}, nil
	}
	if err := os.MkdirAll(stagingDir, 0o700); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(stagingDir, "dockpack-assemble-*")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	p := filepath.Join(dir, filepath.Base(f.Path))
	rc, err := d.OpenFile(ctx, m, f)
	if err == nil {
		var out *os.File
		if out, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			_, err = io.Copy(out, rc)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		rc.Close()
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return func(string) (*os.File, error) { return os.Open(p) }, cleanup, nil
}

// Dependents names the store packs in target whose chunk lists use any of
// blobs, newest first (best effort: unreadable packs are left out).
func Dependents(ctx context.Context, target string, blobs map[store.ID]bool) []string {
	packs, err := List(ctx, target)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range packs {
		if p.Status != StatusComplete || p.Format != FormatStore {
			continue
		}
		used, err := UsedBlobs(ctx, p.Path)
		if err != nil {
			continue
		}
		for id := range blobs {
			if used[id] {
				out = append(out, p.Name)
				break
			}
		}
	}
	return out
}

// UsedBlobs are the blobs a store pack's chunk lists use.
func UsedBlobs(ctx context.Context, packDir string) (map[store.ID]bool, error) {
	m, _, err := ReadManifest(ctx, packDir)
	if err != nil {
		return nil, err
	}
	out := map[store.ID]bool{}
	if !m.IsStore() {
		return out, nil
	}
	d, err := OpenDir(ctx, packDir, nil)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	for _, f := range m.Files {
		l, err := d.ReadChunkList(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, c := range l.Chunks {
			out[c.ID] = true
		}
	}
	return out, nil
}

// blobProblem renders blob errors: the bundles and what is wrong.
func blobProblem(errs []*store.BlobError) string {
	var s []string
	for i, e := range errs {
		if i == 5 {
			s = append(s, fmt.Sprintf("and %d more", len(errs)-5))
			break
		}
		s = append(s, e.Error())
	}
	return strings.Join(s, "; ")
}
