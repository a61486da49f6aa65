// Package store is the pack store of format 2 (docs/format.md §3): a
// content-addressed blob store on a target, written only through a
// storage.Backend. Files are cut into content-defined chunks (restic's
// chunker, ~1 MiB on average, with the store's own polynomial), each named
// by the sha256 of its plaintext, stored once, compressed with zstd and
// appended to bundles of about 16 MiB (each with its own index at its end);
// index files say which chunk is in which bundle. A lease in the store
// (Lock) lets backups share it and gives prune's garbage collection (GC)
// the store alone. An encrypted store (seal.go, docs/encryption.md §4)
// names its chunks by HMAC-SHA256 under its naming key instead and seals
// each compressed chunk with age.
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
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"

	"github.com/dockpack/dockpack/backup/seal"
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
	// Encryption: an encrypted store (seal.go); its chunker records no
	// polynomial (it is derived from the naming key).
	Encryption *EncryptionConfig `json:"encryption,omitempty"`
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
	// Seal is a writer's keys (with Create): with recipients the run is
	// encrypted — a new store is made encrypted, an encrypted store's blobs
	// are sealed to them, a plaintext store refuses; without, an encrypted
	// store refuses (seal.go). Readers give identities with Unseal.
	Seal *seal.Keys
	// NamingKeyFile is a writer's naming key file (0600): read for an
	// encrypted store, created with a new one. NamingKeyDir, when
	// NamingKeyFile is empty, holds one key file per store
	// (naming-key-<store id>.json: the daemon's state dir).
	NamingKeyFile string
	NamingKeyDir  string
	// checkOnly: CheckWriting's run of the rules (no key file recovered).
	checkOnly bool
}

// keyFile is the naming key file of the store id.
func (o Options) keyFile(id string) string {
	if o.NamingKeyFile == "" && o.NamingKeyDir != "" {
		return filepath.Join(o.NamingKeyDir, "naming-key-"+id+".json")
	}
	return o.NamingKeyFile
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
	// An encrypted store's naming key and keys (seal.go): nil until a
	// writer's key file is read or a reader Unseals.
	nk     *seal.NamingKey
	keys   *seal.Keys
	expect []string // the recipients expected, for a wrong identity's message
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
	var made *seal.NamingKey // the key of an encrypted store made now
	if errors.Is(err, ErrNoStore) && o.Create {
		cfg, made, err = createConfig(ctx, b, o)
		if errors.Is(err, storage.ErrExists) { // made by another writer meanwhile
			made = nil
			cfg, err = readConfig(ctx, b)
		}
	}
	if err != nil {
		return nil, err
	}
	var pol chunker.Pol
	if cfg.Encryption == nil { // an encrypted store's is the naming key's (seal.go)
		if pol, err = parsePol(cfg.Chunker.Polynomial); err != nil {
			return nil, fmt.Errorf("store config %s: %w", ConfigKey, err)
		}
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(writerWorkers()), zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(encoderWindow)) // a chunk is one frame: a window of about one chunk keeps each encoder small
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(64<<20),
		zstd.IgnoreChecksum(true)) // each blob's sha256 (or keyed hash) is checked: zstd's own xxhash would check the same bytes again
	if err != nil {
		return nil, err
	}
	s := &Store{b: b, cfg: cfg, pol: pol, mode: o.Mode, now: o.Now, enc: enc, dec: dec, idx: newIndex()}
	if o.Create { // a writer: the encryption rules, before anything is written
		if err := s.openWriting(ctx, o, made); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
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
	case cfg.Encryption != nil && (cfg.Encryption.Scheme != SchemeAge || cfg.Encryption.Naming != NamingHMAC):
		return Config{}, fmt.Errorf("%w: the store in %s is encrypted with %s/%s", ErrNewerFormat, b.Location(), cfg.Encryption.Scheme, cfg.Encryption.Naming)
	case cfg.Encryption != nil && (cfg.Chunker.Polynomial != "" || cfg.Encryption.KeyFingerprint == ""):
		return Config{}, fmt.Errorf("store config %s: an encrypted store records its naming key's fingerprint and no polynomial", ConfigKey)
	case cfg.Chunker.MinSize == 0 || cfg.Chunker.MaxSize < cfg.Chunker.MinSize || cfg.Chunker.AverageBits < 10 || cfg.Chunker.AverageBits > 30 || cfg.BundleSize <= 0:
		return Config{}, fmt.Errorf("store config %s: invalid chunker or bundle parameters", ConfigKey)
	}
	return cfg, nil
}

// createConfig makes a store: an encrypted one (its naming key made
// first, createSealed) when o.Seal has recipients.
func createConfig(ctx context.Context, b storage.Backend, o Options) (Config, *seal.NamingKey, error) {
	bs := o.BundleSize
	if bs <= 0 {
		bs = 16 << 20
	}
	cfg := Config{Kind: Kind, Format: Format, ID: randomID(16), CreatedAt: o.Now().UTC(), Compression: "zstd", BundleSize: bs,
		Chunker: ChunkerConfig{MinSize: chunker.MinSize, AverageBits: 20, MaxSize: chunker.MaxSize}}
	var nk *seal.NamingKey
	if o.Seal.Encrypts() {
		var err error
		if nk, cfg.Encryption, err = createSealed(ctx, b, o, cfg.ID); err != nil {
			return Config{}, nil, err
		}
	} else {
		pol, err := chunker.RandomPolynomial()
		if err != nil {
			return Config{}, nil, err
		}
		cfg.Chunker.Polynomial = "0x" + strconv.FormatUint(uint64(pol), 16)
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return Config{}, nil, err
	}
	_, err = storage.WriteObject(ctx, b, ConfigKey, strings.NewReader(string(data)+"\n"), storage.CreateOptions{Exclusive: true, Mode: o.Mode})
	return cfg, nk, err
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

// ID is a blob id: the sha256 of its plaintext (in an encrypted store its
// HMAC-SHA256 under the naming key).
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
