package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
)

// imageCatalog finds images' configs and layers in the store by digest:
// the target's store packs (of this store) that hold them as files, newest
// first. A file is found only when its chunk list reads back with the
// sha256 its pack records and every chunk of it is in the store's index —
// what a backup's shared lease keeps from prune until the pack is written.
type imageCatalog struct {
	sr    *storeRun
	files map[string][]catalogRef // pack path (images/…) → the packs that hold it, newest first
}

// catalogRef is one pack's file.
type catalogRef struct {
	pack string // the pack's name (its key prefix)
	fe   pack.FileEntry
}

// catalogFile is a file found: its chunk list as the pack holds it.
type catalogFile struct {
	list []byte
	cl   pack.ChunkList
	fe   pack.FileEntry
}

// maxManifest bounds a manifest read from the target.
const maxManifest = 64 << 20

// loadImageCatalog reads the manifests of the target's complete packs
// (through the pinned target: the store's backend).
func (r *runner) loadImageCatalog(ctx context.Context) (*imageCatalog, error) {
	sr := r.store
	c := &imageCatalog{sr: sr, files: map[string][]catalogRef{}}
	var names []string
	err := sr.b.List(ctx, pack.NamePrefix, func(in storage.Info) error {
		dir, file, ok := strings.Cut(in.Key, "/")
		if ok && file == pack.ManifestFile {
			names = append(names, dir)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	slices.Reverse(names) // newest first: pack names are UTC times
	id := sr.st.Config().ID
	for _, name := range names {
		data, err := storage.ReadObject(ctx, sr.b, path.Join(name, pack.ManifestFile), maxManifest)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			continue // gone meanwhile, or not readable: not a source
		}
		m, err := pack.ParseManifest(data)
		if err != nil || !m.IsStore() || m.Store == nil || m.Store.ID != id {
			continue
		}
		for _, f := range m.Files {
			if f.Kind == pack.FileImageConfig || f.Kind == pack.FileImageLayer {
				c.files[f.Path] = append(c.files[f.Path], catalogRef{pack: name, fe: f})
			}
		}
	}
	return c, nil
}

// lookup finds the file at pack path p (nil when the store lacks it).
func (c *imageCatalog) lookup(ctx context.Context, p string) (*catalogFile, error) {
	for _, ref := range c.files[p] {
		f := ref.fe
		data, err := storage.ReadObject(ctx, c.sr.b, path.Join(ref.pack, f.Chunks.List), 1<<30)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.Chunks.ListSHA256 {
			continue
		}
		var cl pack.ChunkList
		if json.Unmarshal(data, &cl) != nil || cl.Path != p || cl.Size != f.Size || cl.SHA256 != f.SHA256 || !c.indexed(cl) {
			continue
		}
		return &catalogFile{list: data, cl: cl, fe: f}, nil
	}
	return nil, nil
}

// indexed reports whether every chunk of cl is in the store's index and
// the chunks add up to the file.
func (c *imageCatalog) indexed(cl pack.ChunkList) bool {
	var n int64
	idx := c.sr.st.Index()
	for _, ch := range cl.Chunks {
		if _, ok := idx.Lookup(ch.ID); !ok {
			return false
		}
		n += ch.Size
	}
	return n == cl.Size
}
