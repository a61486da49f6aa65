package pack

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Manifest formats (docs/format.md): FormatVersion (1) is a classic pack,
// FormatStore (2) a pack whose files are chunks in the target's pack store.
const (
	FormatStore = 2
	// FormatNewest is the newest manifest format this dockpack reads.
	FormatNewest = FormatStore
	// ChunksDir holds a store pack's chunk lists: chunks/<file path>.json.
	ChunksDir = "chunks"
)

// ErrNewerFormat marks a pack (or store) made by a newer dockpack: a newer
// format_version or a file kind this dockpack does not know. It is refused,
// never half read (docs/format.md, the versioning rule). Such an error
// also matches ErrManifest: this dockpack cannot read the manifest.
var ErrNewerFormat = errors.New("made by a newer dockpack")

// StoreEntry is a store pack's account of what it added to the store.
type StoreEntry struct {
	// ID is the store's id (its config): the pack's chunks live there.
	ID string `json:"id"`
	// NewBytes is what the pack's new blobs take in the store (compressed);
	// NewRawBytes their plaintext; ReusedRawBytes the plaintext found there.
	NewBytes       int64 `json:"new_bytes"`
	NewRawBytes    int64 `json:"new_raw_bytes"`
	NewBlobs       int   `json:"new_blobs"`
	ReusedRawBytes int64 `json:"reused_raw_bytes"`
	// Bundles is how many bundles the backup wrote.
	Bundles int `json:"bundles"`
}

// ChunksEntry says where a store pack's file is: its chunk list.
type ChunksEntry struct {
	List           string `json:"list"` // chunks/<path>.json, in the pack
	ListSHA256     string `json:"list_sha256"`
	Count          int    `json:"count"`
	NewBytes       int64  `json:"new_bytes"`
	NewRawBytes    int64  `json:"new_raw_bytes"`
	ReusedRawBytes int64  `json:"reused_raw_bytes"`
}

// ChunkListPath is the chunk list of the pack file at p.
func ChunkListPath(p string) string { return path.Join(ChunksDir, p+".json") }

// IsStore reports whether m is a store pack (format 2).
func (m *Manifest) IsStore() bool { return m.FormatVersion == FormatStore }

// kindKnown reports whether this dockpack reads files of kind k: the
// switch of validateFiles is the one list of them.
func kindKnown(k FileKind) bool {
	ok := true
	probe := Manifest{Files: []FileEntry{{Path: "x", Kind: k, SHA256: strings.Repeat("0", 64)}}}
	probe.validateFiles(func(string, ...any) { ok = false })
	return ok
}

// checkFormat refuses a manifest made by a newer dockpack (ErrNewerFormat)
// and checks what format 2 adds (ErrManifest).
func (m *Manifest) checkFormat() error {
	if m.FormatVersion > FormatNewest {
		return fmt.Errorf("%w (%w): manifest.json has format_version %d; this dockpack reads formats 1 to %d: upgrade dockpack to read this pack",
			ErrNewerFormat, ErrManifest, m.FormatVersion, FormatNewest)
	}
	if m.FormatVersion < 1 {
		return fmt.Errorf("%w: format_version is %d, this dockpack reads 1 to %d", ErrManifest, m.FormatVersion, FormatNewest)
	}
	var unknown []string
	for _, f := range m.Files {
		if !kindKnown(f.Kind) {
			unknown = append(unknown, fmt.Sprintf("%s (kind %q)", f.Path, f.Kind))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w (%w): the pack holds files of a kind this dockpack does not know: %s; upgrade dockpack to read this pack (nothing of it is read)",
			ErrNewerFormat, ErrManifest, strings.Join(unknown, ", "))
	}
	var errs []string
	if m.IsStore() {
		if m.Store == nil || m.Store.ID == "" {
			errs = append(errs, "a store pack (format 2) has no store section")
		}
		for i, f := range m.Files {
			switch c := f.Chunks; {
			case c == nil:
				errs = append(errs, fmt.Sprintf("components[%d] (%s) has no chunk list", i, f.Path))
			case c.List != ChunkListPath(f.Path) || !validSHA256(c.ListSHA256) || c.Count < 0:
				errs = append(errs, fmt.Sprintf("components[%d] (%s) has an invalid chunk list entry", i, f.Path))
			}
		}
	} else {
		for i, f := range m.Files {
			if f.Chunks != nil {
				errs = append(errs, fmt.Sprintf("components[%d] (%s) has a chunk list in a classic pack", i, f.Path))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrManifest, strings.Join(errs, "; "))
	}
	return nil
}
