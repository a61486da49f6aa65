package pack

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/dockpack/dockpack/internal/fsutil"
)

// Manifest is manifest.json, the pack's table of contents. Every file of the
// pack except manifest.json and SHA256SUMS is listed in Files with its size
// and sha256, so the sha256 of manifest.json (the package hash) covers them all.
type Manifest struct {
	FormatVersion int           `json:"format_version"`
	Tool          ToolInfo      `json:"tool"`
	CreatedAt     time.Time     `json:"created_at"`
	Host          string        `json:"host"`
	Engine        EngineEntry   `json:"engine"`
	Project       string        `json:"project"`
	Contents      []Component   `json:"contents"`
	Files         []FileEntry   `json:"components"`
	Images        []ImageEntry  `json:"images"`
	Volumes       []VolumeEntry `json:"volumes"`
	SQLite        *SQLiteEntry  `json:"sqlite,omitempty"`
	Skipped       []SkipEntry   `json:"skipped"`
	// Store is a store pack's (format 2) account of the store; nil in a classic pack.
	Store *StoreEntry `json:"store,omitempty"`
	// MissingPlatforms lists image-index entries for platforms never pulled
	// (tolerated by the image validator).
	MissingPlatforms []string `json:"missing_platforms,omitempty"`
	// Consistency says per compose service how it was captured: hooks,
	// dumps, volumes, binds, the stop order and the profiles in use
	// (manifest_services.go); absent in packs made before it existed.
	Consistency *Consistency `json:"consistency,omitempty"`
	// ExportedFrom names the pack an exported pack was made from
	// (informative; exported.go).
	ExportedFrom *ExportSource `json:"exported_from,omitempty"`
	// Encryption, when set, says every file of components is sealed with
	// age (sealed.go, docs/encryption.md): listed at its path at rest
	// (".age" appended) with its ciphertext size and sha256. nil: plaintext.
	Encryption *EncryptionEntry `json:"encryption,omitempty"`
}

// ToolInfo names the program that wrote a pack.
type ToolInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// EngineEntry describes the Docker Engine a pack was made from.
type EngineEntry struct {
	Version       string `json:"version"`
	APIVersion    string `json:"api_version"`
	ImageStore    string `json:"image_store"`
	StorageDriver string `json:"storage_driver"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
}

// FileEntry is one file of the pack.
type FileEntry struct {
	Path   string   `json:"path"` // slash-separated, relative to the pack
	Kind   FileKind `json:"kind"`
	Size   int64    `json:"size"`
	SHA256 string   `json:"sha256"`
	// Chunks is where a store pack's file is (format 2); nil in a classic pack.
	Chunks *ChunksEntry `json:"chunks,omitempty"`
}

// ImageEntry is one image in images.tar, or (a store pack's image by
// layer) in its image-config and image-layer files (images_layers.go).
type ImageEntry struct {
	ID           string   `json:"id"`
	ConfigDigest string   `json:"config_digest"`
	RepoTags     []string `json:"repo_tags"`
	RepoDigests  []string `json:"repo_digests"`
	Size         int64    `json:"size"`
	// Config is the image-config file and Layers the image's layers in
	// order, each its DiffID and image-layer file (images by layer only).
	Config string       `json:"config,omitempty"`
	Layers []ImageLayer `json:"layers,omitempty"`
}

// VolumeEntry is one named volume, stored as File.
type VolumeEntry struct {
	Name     string            `json:"name"`
	Driver   string            `json:"driver"`
	Options  map[string]string `json:"options"`
	Labels   map[string]string `json:"labels"`
	External bool              `json:"external"`
	Size     int64             `json:"size"` // bytes of file content in the volume
	File     string            `json:"file"`
}

// SQLiteEntry describes the database snapshot.
type SQLiteEntry struct {
	Source        string `json:"source"`
	File          string `json:"file"`
	SQLiteVersion string `json:"sqlite_version"`
	JournalMode   string `json:"journal_mode"`
	PageCount     int64  `json:"page_count"`
	PageSize      int64  `json:"page_size"`
	Check         string `json:"check"`
}

// SkipEntry is something of the stack deliberately not in the pack, and why.
type SkipEntry struct {
	Kind        string `json:"kind"` // bind | anonymous | tmpfs | compose-file
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	Container   string `json:"container,omitempty"`
	Reason      string `json:"reason"`
}

// ErrManifest marks a manifest.json or SHA256SUMS that is malformed or inconsistent.
var ErrManifest = errors.New("invalid pack manifest")

// MarshalManifest renders m as indented JSON with a trailing newline.
func MarshalManifest(m *Manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseManifest decodes and validates manifest.json (unknown fields are
// allowed so newer minor additions still read).
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest.json is not valid JSON: %v", ErrManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: manifest.json has data after the JSON object", ErrManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the manifest's schema: version, required fields, file
// paths inside the pack, well-formed digests, and cross references between
// Files and the image, volume and SQLite sections.
func (m *Manifest) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if err := m.checkFormat(); err != nil {
		return err
	}
	if m.Project == "" {
		bad("project is empty")
	}
	if m.CreatedAt.IsZero() {
		bad("created_at is missing")
	}
	files := m.validateFiles(bad)
	need := func(p string, kind FileKind, what string) {
		f, ok := files[p]
		if !ok {
			bad("%s names file %q, which components does not list", what, p)
		} else if f.Kind != kind {
			bad("%s names file %q of kind %q, want %q", what, p, f.Kind, kind)
		}
	}
	for _, c := range m.Contents {
		if !slices.Contains(AllComponents, c) {
			bad("contents lists unknown component %q", c)
		}
	}
	if slices.Contains(m.Contents, ComponentImages) {
		if !m.ImagesByLayer() {
			need(ImagesFile, FileImages, "contents (images)")
		}
		if len(m.Images) == 0 {
			bad("contents include images but the images list is empty")
		}
	}
	for i, im := range m.Images {
		if !strings.HasPrefix(im.ConfigDigest, "sha256:") || !validSHA256(strings.TrimPrefix(im.ConfigDigest, "sha256:")) {
			bad("images[%d].config_digest %q is not a sha256 digest", i, im.ConfigDigest)
		}
	}
	m.validateImageLayers(files, bad) // images_layers.go
	seenVol := map[string]bool{}
	for i, v := range m.Volumes {
		if v.Name == "" || strings.ContainsAny(v.Name, "/\\") {
			bad("volumes[%d].name %q is not a volume name", i, v.Name)
		}
		if seenVol[v.Name] {
			bad("volume %q is listed twice", v.Name)
		}
		seenVol[v.Name] = true
		need(v.File, FileVolume, fmt.Sprintf("volumes[%d] (%s)", i, v.Name))
	}
	if m.SQLite != nil {
		need(m.SQLite.File, FileSQLite, "sqlite")
		if m.SQLite.Check != "ok" {
			bad("sqlite.check is %q, want \"ok\"", m.SQLite.Check)
		}
	} else if slices.Contains(m.Contents, ComponentDB) {
		bad("contents include db but the sqlite section is missing")
	}
	m.validateConsistency(files, bad)
	m.validateEncryption(bad) // sealed.go
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrManifest, strings.Join(errs, "; "))
	}
	return nil
}

// validateFiles checks the components list and returns it by path.
func (m *Manifest) validateFiles(bad func(format string, a ...any)) map[string]FileEntry {
	files := map[string]FileEntry{}
	for i, f := range m.Files {
		switch {
		case !validPackPath(f.Path):
			bad("components[%d].path %q is not a clean relative path inside the pack", i, f.Path)
		case f.Path == ManifestFile || f.Path == SumsFile:
			bad("components[%d].path %q is reserved", i, f.Path)
		case files[m.PlainPath(f.Path)].Path != "":
			bad("components[%d].path %q is listed twice", i, f.Path)
		case m.sealedFiles() && !strings.HasSuffix(f.Path, SealedSuffix):
			bad("components[%d].path %q: the pack is sealed, and a sealed file's path ends with %s", i, f.Path, SealedSuffix)
		}
		if f.Size < 0 {
			bad("components[%d] (%s) has negative size %d", i, f.Path, f.Size)
		}
		if !validSHA256(f.SHA256) {
			bad("components[%d] (%s) sha256 %q is not 64 lowercase hex digits", i, f.Path, f.SHA256)
		}
		switch f.Kind {
		case FileSQLite, FileVolume, FileImages, FileCompose, FileDump, FileBind, FileImageConfig, FileImageLayer:
		default:
			bad("components[%d] (%s) has unknown kind %q", i, f.Path, f.Kind)
		}
		files[m.PlainPath(f.Path)] = f // a sealed file by the name its plaintext has
	}
	return files
}

// File returns the entry for pack path p: in a sealed pack, p may be the
// plaintext's name (volumes/x.tar, as the volumes, sqlite and consistency
// sections name files) or the sealed file's (volumes/x.tar.age).
func (m *Manifest) File(p string) (FileEntry, bool) {
	for _, f := range m.Files {
		if f.Path == p || (m.Encryption != nil && f.Path == p+SealedSuffix) {
			return f, true
		}
	}
	return FileEntry{}, false
}

// PackSize is the sum of the sizes of the files the manifest lists.
func (m *Manifest) PackSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

func validPackPath(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && path.Clean(p) == p && p != "." &&
		!strings.HasPrefix(p, "../") && p != ".." && !strings.Contains(p, "\\")
}

func validSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func sha256Hex(b []byte) string {
	h := fsutil.NewHashWriter(nil)
	h.Write(b)
	return h.Sum()
}
