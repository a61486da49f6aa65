package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/dockpack/dockpack/backup/storage"
)

// BlobEntry is one blob in a bundle.
type BlobEntry struct {
	ID        ID    `json:"id"`
	Offset    int64 `json:"offset"`
	Length    int64 `json:"length"`
	RawLength int64 `json:"raw_length"`
}

// BundleEntry is one bundle in an index file.
type BundleEntry struct {
	ID     string      `json:"id"`
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256"`
	Blobs  []BlobEntry `json:"blobs"`
}

// indexFile is blobs/index/<id>.json.
type indexFile struct {
	Bundles []BundleEntry `json:"bundles"`
}

// Location is where a blob is stored.
type Location struct {
	Bundle    string
	Offset    int64
	Length    int64
	RawLength int64
}

// Index is the union of the store's index files.
type Index struct {
	mu      sync.RWMutex
	blobs   map[ID]Location
	bundles map[string]BundleEntry
	files   []string // index keys read
}

func newIndex() *Index {
	return &Index{blobs: map[ID]Location{}, bundles: map[string]BundleEntry{}}
}

// Lookup says where blob id is.
func (x *Index) Lookup(id ID) (Location, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l, ok := x.blobs[id]
	return l, ok
}

// Bundles are the bundles the index lists, by id.
func (x *Index) Bundles() map[string]BundleEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[string]BundleEntry, len(x.bundles))
	for k, v := range x.bundles {
		out[k] = v
	}
	return out
}

// Len is the number of blobs the index lists.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.blobs)
}

func (x *Index) add(b BundleEntry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.bundles[b.ID]; ok {
		return
	}
	x.bundles[b.ID] = b
	for _, e := range b.Blobs {
		if _, ok := x.blobs[e.ID]; !ok {
			x.blobs[e.ID] = Location{Bundle: b.ID, Offset: e.Offset, Length: e.Length, RawLength: e.RawLength}
		}
	}
}

// Index is the index as last loaded (LoadIndex).
func (s *Store) Index() *Index { return s.idx }

// LoadIndex reads every index file of the store.
func (s *Store) LoadIndex(ctx context.Context) error {
	x := newIndex()
	var keys []string
	if err := s.b.List(ctx, IndexPrefix, func(i storage.Info) error {
		if strings.HasSuffix(i.Key, ".json") {
			keys = append(keys, i.Key)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("list the store's indexes: %w", err)
	}
	for _, k := range keys {
		data, err := storage.ReadObject(ctx, s.b, k, 1<<30)
		if err != nil {
			return fmt.Errorf("read the store index %s: %w", k, err)
		}
		var f indexFile
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("store index %s: %w", k, err)
		}
		for _, b := range f.Bundles {
			x.add(b)
		}
	}
	x.files = keys
	s.idx = x
	return nil
}

// writeIndex writes one index file listing bundles.
func (s *Store) writeIndex(ctx context.Context, bundles []BundleEntry) (string, error) {
	data, err := json.Marshal(indexFile{Bundles: bundles})
	if err != nil {
		return "", err
	}
	key := IndexPrefix + randomID(32) + ".json"
	if _, err := storage.WriteObject(ctx, s.b, key, strings.NewReader(string(data)), storage.CreateOptions{Exclusive: true, Mode: s.mode, SizeHint: int64(len(data))}); err != nil {
		return "", fmt.Errorf("write the store index %s: %w", key, err)
	}
	return key, nil
}
