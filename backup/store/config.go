// Package store is the pack store of format 2 (docs/format.md §3): a
// content-addressed blob store on a target, written only through a
// storage.Backend. Files are cut into content-defined chunks (restic's
// chunker, ~1 MiB on average, with the store's own polynomial), each named
// by the sha256 of its plaintext, stored once, compressed with zstd and
// appended to bundles of about 16 MiB (each with its own index at its end);
// index files say which chunk is in which bundle. A lease in the store
// (Lock) lets backups share it and gives prune's garbage collection (GC)
// the store alone.
//
// It knows nothing of packs and manifests: backup/pack keeps the chunk
// lists of a pack's files and asks the store to write, read, check and
// collect blobs.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"

	"github.com/dockpack/dockpack/backup/storage"
)

// Keys of the store in a target.
const (
	ConfigKey   = ".dockpack/config.json"
	LocksPrefix = ".dockpack/locks/"
	DataPrefix  = "blobs/data/"
	IndexPrefix = "blobs/index/"
	// Format is the store format this code writes and reads.
	Format = 2
	// Kind is the config's kind.
	Kind = "dockpack-store"
)

// encoderWindow is the zstd window of the blobs' frames (about the
// average chunk: larger ones cost memory per encoder and gain little).
const encoderWindow = 2 << 20

// ErrNewerFormat: the store (or a pack) was made by a newer dockpack.
var ErrNewerFormat = errors.New("made by a newer dockpack")

// ErrNoStore: the target holds no store.
var ErrNoStore = errors.New("no pack store in the target")

// Config is .dockpack/config.json.
type Config struct {
	Kind        string        `json:"kind"`
	Format      int           `json:"format"`
	ID          string        `json:"id"`
	CreatedAt   time.Time     `json:"created_at"`
	Chunker     ChunkerConfig `json:"chunker"`
	Compression string        `json:"compression"`
	BundleSize  int64         `json:"bundle_size"`
}

// ChunkerConfig is the content-defined chunker's parameters.
type ChunkerConfig struct {
	Polynomial  string `json:"polynomial"`
	MinSize     uint   `json:"min_size"`
	AverageBits int    `json:"average_bits"`
	MaxSize     uint   `json:"max_size"`
}

// Options configure Open.
type Options struct {
	// Create makes a store when the target holds none.
	Create bool
	// Mode of the objects the store writes. Default 0600.
	Mode os.FileMode
	// BundleSize of a new store. Default 16 MiB.
	BundleSize int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Store is an opened store.
type Store struct {
	b    storage.Backend
	cfg  Config
	pol  chunker.Pol
	mode os.FileMode
	now  func() time.Time
	idx  *Index
	enc  *zstd.Encoder
	dec  *zstd.Decoder
}

// Exists reports whether the target holds a store.
func Exists(ctx context.Context, b storage.Backend) (bool, error) {
	_, err := b.Stat(ctx, ConfigKey)
	if errors.Is(err, storage.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Open opens the store of a target (creating it with o.Create).
func Open(ctx context.Context, b storage.Backend, o Options) (*Store, error) {
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := readConfig(ctx, b)
	if errors.Is(err, ErrNoStore) && o.Create {
		cfg, err = createConfig(ctx, b, o)
		if errors.Is(err, storage.ErrExists) { // made by another writer meanwhile
			cfg, err = readConfig(ctx, b)
		}
	}
	if err != nil {
		return nil, err
	}
	pol, err := parsePol(cfg.Chunker.Polynomial)
	if err != nil {
		return nil, fmt.Errorf("store config %s: %w", ConfigKey, err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(writerWorkers()), zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(encoderWindow)) // a chunk is one frame: a window of about one chunk keeps each encoder small
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	return &Store{b: b, cfg: cfg, pol: pol, mode: o.Mode, now: o.Now, enc: enc, dec: dec, idx: newIndex()}, nil
}

// Config is the store's config.
func (s *Store) Config() Config { return s.cfg }

// Backend is where the store lives.
func (s *Store) Backend() storage.Backend { return s.b }

// Close releases the compressors (not the backend).
func (s *Store) Close() error {
	s.dec.Close()
	return s.enc.Close()
}

func readConfig(ctx context.Context, b storage.Backend) (Config, error) {
	data, err := storage.ReadObject(ctx, b, ConfigKey, 1<<20)
	if errors.Is(err, storage.ErrNotExist) {
		return Config{}, fmt.Errorf("%w: %s has no %s", ErrNoStore, b.Location(), ConfigKey)
	}
	if err != nil {
		return Config{}, err
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("store config %s: %w", ConfigKey, err)
	}
	switch {
	case cfg.Kind != Kind:
		return Config{}, fmt.Errorf("store config %s: kind %q, want %q", ConfigKey, cfg.Kind, Kind)
	case cfg.Format > Format:
		return Config{}, fmt.Errorf("%w: the store in %s has format %d; this dockpack reads up to format %d: upgrade dockpack",
			ErrNewerFormat, b.Location(), cfg.Format, Format)
	case cfg.Format < Format:
		return Config{}, fmt.Errorf("store config %s: format %d is not a store format", ConfigKey, cfg.Format)
	case cfg.Compression != "zstd":
		return Config{}, fmt.Errorf("%w: the store in %s uses compression %q", ErrNewerFormat, b.Location(), cfg.Compression)
	case cfg.Chunker.MinSize == 0 || cfg.Chunker.MaxSize < cfg.Chunker.MinSize || cfg.Chunker.AverageBits < 10 || cfg.Chunker.AverageBits > 30 || cfg.BundleSize <= 0:
		return Config{}, fmt.Errorf("store config %s: invalid chunker or bundle parameters", ConfigKey)
	}
	return cfg, nil
}

func createConfig(ctx context.Context, b storage.Backend, o Options) (Config, error) {
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return Config{}, err
	}
	bs := o.BundleSize
	if bs <= 0 {
		bs = 16 << 20
	}
	cfg := Config{Kind: Kind, Format: Format, ID: randomID(16), CreatedAt: o.Now().UTC(), Compression: "zstd", BundleSize: bs,
		Chunker: ChunkerConfig{Polynomial: "0x" + strconv.FormatUint(uint64(pol), 16), MinSize: chunker.MinSize, AverageBits: 20, MaxSize: chunker.MaxSize}}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return Config{}, err
	}
	_, err = storage.WriteObject(ctx, b, ConfigKey, strings.NewReader(string(data)+"\n"), storage.CreateOptions{Exclusive: true, Mode: o.Mode})
	return cfg, err
}

func parsePol(s string) (chunker.Pol, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("chunker polynomial %q: %w", s, err)
	}
	p := chunker.Pol(n)
	if !p.Irreducible() || p.Deg() != 53 {
		return 0, fmt.Errorf("chunker polynomial %q is not an irreducible polynomial of degree 53", s)
	}
	return p, nil
}

// randomID is n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ID is a blob id: the sha256 of its plaintext.
type ID [32]byte

// String is the id in hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID reads a blob id in hex.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("blob id %q is not 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || strings.ToLower(s) != s {
		return id, fmt.Errorf("blob id %q is not 64 lowercase hex digits", s)
	}
	return id, nil
}

// MarshalText renders the id in hex (JSON).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the id in hex (JSON).
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	*id = v
	return err
}

// bundleKey is the key of a bundle.
func bundleKey(id string) string { return DataPrefix + id[:2] + "/" + id }
