package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
)

// Pack formats (Spec.Format).
const (
	// FormatClassic writes every file of the pack in full (format 1).
	FormatClassic = "classic"
	// FormatStore writes the files as chunks into the target's pack store,
	// only those the store lacks (format 2); the pack directory holds the
	// manifest and the chunk lists.
	FormatStore = "store"
)

// Formats are the accepted values of Spec.Format (the first is the default).
var Formats = []string{FormatClassic, FormatStore}

// StoreStats is what a store backup read, added and reused, per component
// ("db", "volumes", "images", "compose").
type StoreStats map[string]store.Stats

// Total sums the components.
func (s StoreStats) Total() store.Stats {
	var t store.Stats
	for _, v := range s {
		t.Add(v)
	}
	return t
}

// Progress is the stats in progress reports' shape (a new map).
func (s StoreStats) Progress() map[string]progress.ComponentBytes {
	out := make(map[string]progress.ComponentBytes, len(s))
	for c, v := range s {
		out[c] = progress.ComponentBytes{ReadBytes: v.ReadBytes, NewRawBytes: v.NewRawBytes, NewBytes: v.NewBytes, ReusedRawBytes: v.ReusedRawBytes}
	}
	return out
}

// storeRun is a store backup's session: the backend on the pinned target,
// the store, its shared lease and the writer.
type storeRun struct {
	b     storage.Backend
	own   bool // b is the store's own (the pinned directory), closed with it
	st    *store.Store
	lock  *store.Lock
	w     *store.Writer
	stats StoreStats
	sums  []pack.Sum // the chunk lists (in SHA256SUMS)
}

// openStore opens (or creates) the store on the pinned target (or the
// object storage target's backend), takes a shared lease and removes the
// uploads dead writers left.
func (r *runner) openStore(ctx context.Context) error {
	spec := r.spec
	var b storage.Backend = r.remote
	own := b == nil
	if own {
		lb, err := local.Open(ctx, local.Options{Pin: r.pin, Owner: spec.Owner.Token, CheckBytes: spec.PinCheckBytes})
		if err != nil {
			return err
		}
		b = lb
	}
	var err error
	sr := &storeRun{b: b, own: own, stats: StoreStats{}}
	r.store = sr
	so := store.Options{Create: true, Mode: spec.PackMode, Now: spec.Now, Seal: r.seal, NamingKeyFile: spec.NamingKeyFile, NamingKeyDir: spec.NamingKeyDir}
	if sr.st, err = store.Open(ctx, b, so); err != nil { // an encrypted store's rules, before anything is written
		return err
	}
	if sr.st.Sealed() {
		r.log.Info("the store is encrypted: blobs named by the naming key and sealed", zap.String("store", sr.st.Config().ID))
	}
	lo := store.LockOptions{Mode: store.Shared, Owner: spec.Owner, Purpose: "backup of " + spec.Project, Wait: spec.StoreLockWait}
	if sr.lock, err = store.AcquireLock(ctx, b, lo); err != nil {
		return err
	}
	live, err := store.LiveTokens(ctx, b, lo)
	if err == nil {
		if n, aerr := b.AbortStale(ctx, func(tok string) bool { return !live[tok] }); n > 0 || aerr != nil {
			r.log.Warn("store: removed dead writers' uploads", zap.Int("uploads", n), zap.Error(aerr))
		}
	}
	if err := sr.st.LoadIndex(ctx); err != nil {
		return err
	}
	sr.w = sr.st.NewWriter()
	return nil
}

// closeStore ends the session: an unfinished bundle is discarded, the lease released.
func (r *runner) closeStore(ctx context.Context) {
	sr := r.store
	if sr == nil {
		return
	}
	if sr.w != nil {
		sr.w.Abort(ctx)
	}
	if sr.lock != nil {
		if err := sr.lock.Release(context.WithoutCancel(ctx)); err != nil {
			r.log.Warn("store: lease not released (it expires by itself)", zap.Error(err))
		}
	}
	if sr.st != nil {
		sr.st.Close()
	}
	if sr.own {
		sr.b.Close()
	}
}

// writeStoreFile streams produce's output into the store as chunks and
// writes the file's chunk list into the pack.
func (r *runner) writeStoreFile(ctx context.Context, wrap func(io.Writer) io.Writer, rel string, kind pack.FileKind, produce func(w io.Writer) error) (pack.FileEntry, error) {
	sr := r.store
	if err := sr.b.Check(ctx); err != nil {
		return pack.FileEntry{}, err
	}
	pr, pw := io.Pipe()
	perr := make(chan error, 1)
	go func() {
		err := produce(wrap(pw))
		pw.CloseWithError(err)
		perr <- err
	}()
	res, err := sr.w.WriteFile(ctx, pr)
	pr.CloseWithError(errors.Join(err, errors.New("the store write ended")))
	if perr := <-perr; perr != nil {
		return pack.FileEntry{}, perr
	}
	if err != nil {
		return pack.FileEntry{}, err
	}
	comp := componentOf(kind)
	st := sr.stats[comp]
	st.Add(res.Stats)
	sr.stats[comp] = st
	r.trk.SetStore(sr.stats.Progress())
	list, err := json.Marshal(chunkList{Path: rel, Size: res.Size, SHA256: res.SHA256, Chunks: nonNilChunks(res.Chunks)})
	if err != nil {
		return pack.FileEntry{}, err
	}
	lp := pack.ChunkListPath(rel)
	_, lsum, err := r.dir.WriteFile(ctx, lp, nil, func(w io.Writer) error { _, err := w.Write(list); return err })
	if err != nil {
		return pack.FileEntry{}, err
	}
	sr.sums = append(sr.sums, pack.Sum{SHA256: lsum, Path: lp})
	return pack.FileEntry{Path: rel, Kind: kind, Size: res.Size, SHA256: res.SHA256, Chunks: &pack.ChunksEntry{List: lp, ListSHA256: lsum,
		Count: len(res.Chunks), NewBytes: res.Stats.NewBytes, NewRawBytes: res.Stats.NewRawBytes, ReusedRawBytes: res.Stats.ReusedRawBytes}}, nil
}

// chunkList is a file's chunk list (pack.ChunkList's shape, written here).
type chunkList struct {
	Path   string        `json:"path"`
	Size   int64         `json:"size"`
	SHA256 string        `json:"sha256"`
	Chunks []store.Chunk `json:"chunks"`
}

func nonNilChunks(c []store.Chunk) []store.Chunk {
	if c == nil {
		return []store.Chunk{}
	}
	return c
}

// componentOf is the stats bucket of a file kind.
func componentOf(k pack.FileKind) string {
	switch k {
	case pack.FileSQLite:
		return string(pack.ComponentDB)
	case pack.FileVolume:
		return string(pack.ComponentVolumes)
	case pack.FileImages:
		return string(pack.ComponentImages)
	}
	return string(k)
}

// finishStore makes every blob durable and indexed, then renews the lease
// (a store pruned meanwhile would have taken it over: the pack is not
// written), and records what the pack added.
func (r *runner) finishStore(ctx context.Context) error {
	sr := r.store
	if err := sr.w.Flush(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := sr.lock.Held(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	t := sr.stats.Total()
	r.man.FormatVersion = pack.FormatStore
	r.man.Store = &pack.StoreEntry{ID: sr.st.Config().ID, NewBytes: t.NewBytes, NewRawBytes: t.NewRawBytes, NewBlobs: t.NewBlobs,
		ReusedRawBytes: t.ReusedRawBytes, Bundles: sr.w.Bundles()}
	return nil
}

// validFormat reports whether f is a pack format.
func validFormat(f string) bool { return f == FormatClassic || f == FormatStore }

// ParseFormat reads a pack format ("" = classic).
func ParseFormat(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return FormatClassic, nil
	}
	if !validFormat(s) {
		return "", fmt.Errorf("pack format %q: use %s (default) or %s", s, FormatClassic, FormatStore)
	}
	return s, nil
}

// storeStats is the session's stats (nil in a classic backup).
func (r *runner) storeStats() StoreStats {
	if r.store == nil {
		return nil
	}
	return r.store.stats
}
