package seal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/restic/chunker"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// NamingKeyObject is the key, in a store's target, of the naming key
// sealed to the store's recipients.
const NamingKeyObject = ".dockpack/keys/naming.age"

// NamingKeySize is the naming key's size in bytes.
const NamingKeySize = 32

// namingKeyKind marks the key file's and the sealed copy's JSON.
const namingKeyKind = "dockpack-naming-key"

// maxNamingKeyObject bounds the sealed copy read back (a header per
// recipient and a few hundred bytes).
const maxNamingKeyObject = 1 << 20

// NamingKey names the blobs of an encrypted store: a blob's name is
// HMAC-SHA256(key, plaintext), which says nothing of the plaintext to
// whoever lacks the key, and is still the same for the same bytes (dedup
// works). It belongs to one store (StoreID).
type NamingKey struct {
	key   [NamingKeySize]byte
	store string
}

// keyFile is the JSON of the key file and of the sealed copy.
type keyFile struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	StoreID string `json:"store_id"`
	Key     string `json:"key"`
}

// NewNamingKey makes a naming key for the store storeID from 32 random
// bytes.
func NewNamingKey(storeID string) (*NamingKey, error) {
	if storeID == "" {
		return nil, fmt.Errorf("%w: a naming key belongs to a store: no store id given", ErrNamingKey)
	}
	n := &NamingKey{store: storeID}
	if _, err := rand.Read(n.key[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNamingKey, err)
	}
	return n, nil
}

// StoreID is the id of the store the key belongs to.
func (n *NamingKey) StoreID() string { return n.store }

// Fingerprint identifies the key without revealing it (16 hex digits of
// an HMAC of a fixed label): a store's config may record it, so a writer
// finds out that its key file is another store's before writing.
func (n *NamingKey) Fingerprint() string {
	m := hmac.New(sha256.New, n.key[:])
	m.Write([]byte("dockpack naming key fingerprint v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// Name is the blob name of plain: HMAC-SHA256(key, plain).
func (n *NamingKey) Name(plain []byte) [32]byte {
	m := hmac.New(sha256.New, n.key[:])
	m.Write(plain)
	var id [32]byte
	m.Sum(id[:0])
	return id
}

// NewHash returns a streaming HMAC-SHA256 under the key (Name of all that
// is written to it).
func (n *NamingKey) NewHash() hash.Hash { return hmac.New(sha256.New, n.key[:]) }

func (n *NamingKey) marshal() []byte {
	data, _ := json.Marshal(keyFile{Kind: namingKeyKind, Version: 1, StoreID: n.store, Key: hex.EncodeToString(n.key[:])})
	return append(data, '\n')
}

func parseNamingKey(data []byte) (*NamingKey, error) {
	var f keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: not a naming key: %w", ErrNamingKey, err)
	}
	if f.Kind != namingKeyKind {
		return nil, fmt.Errorf("%w: not a naming key (kind %q)", ErrNamingKey, f.Kind)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%w: naming key version %d: made by a newer dockpack", ErrNamingKey, f.Version)
	}
	raw, err := hex.DecodeString(f.Key)
	if err != nil || len(raw) != NamingKeySize || f.StoreID == "" {
		return nil, fmt.Errorf("%w: the naming key is malformed", ErrNamingKey)
	}
	n := &NamingKey{store: f.StoreID}
	copy(n.key[:], raw)
	return n, nil
}

// checkStore refuses a key of another store (storeID "" accepts any).
func (n *NamingKey) checkStore(storeID, where string) error {
	if storeID != "" && n.store != storeID {
		return fmt.Errorf("%w: %s belongs to store %s, not to store %s", ErrNamingKey, where, n.store, storeID)
	}
	return nil
}

// WriteKeyFile writes n to path, mode 0600, never replacing a file there
// (ErrNamingKeyExists): a temporary file in the same directory, fsynced,
// hard-linked to path (which fails if path exists), the directory fsynced.
func WriteKeyFile(ctx context.Context, path string, n *NamingKey) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, fsutil.TempName+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the link (or on failure): only the final name stays
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	if _, err := f.Write(n.marshal()); err != nil {
		f.Close()
		return fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%w: key file: fsync: %w", ErrNamingKey, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s exists (a naming key is never replaced)", ErrNamingKeyExists, path)
		}
		return fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	return nil
}

// ReadKeyFile reads the naming key in path and checks that it is private
// (no group or other permission bits: chmod 600) and, when storeID is
// not "", that it is that store's.
func ReadKeyFile(ctx context.Context, path, storeID string) (*NamingKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: key file: %w", ErrNamingKey, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: key file %s is not a regular file", ErrNamingKey, path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: key file %s has mode %04o: others may read it (chmod 600 %s)", ErrNamingKey, path, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("%w: key file %s: %w", ErrNamingKey, path, err)
	}
	n, err := parseNamingKey(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if err := n.checkStore(storeID, "key file "+path); err != nil {
		return nil, err
	}
	return n, nil
}

// StoreNamingKey writes n sealed to k's recipients under NamingKeyObject
// in b, with an exclusive create: a store has one naming key, and the
// second writer gets ErrNamingKeyExists.
func StoreNamingKey(ctx context.Context, b storage.Backend, n *NamingKey, k *Keys) (storage.Info, error) {
	var sealed bytes.Buffer
	if _, err := k.Seal(ctx, &sealed, bytes.NewReader(n.marshal())); err != nil {
		return storage.Info{}, err
	}
	info, err := storage.WriteObject(ctx, b, NamingKeyObject, &sealed, storage.CreateOptions{Exclusive: true, Mode: 0o600, SizeHint: int64(sealed.Len())})
	if errors.Is(err, storage.ErrExists) {
		return storage.Info{}, fmt.Errorf("%w: %s in %s", ErrNamingKeyExists, NamingKeyObject, b.Location())
	}
	if err != nil {
		return storage.Info{}, fmt.Errorf("%w: storing the sealed copy: %w", ErrNamingKey, err)
	}
	return info, nil
}

// HasNamingKey reports whether the store in b has a sealed naming key —
// that is, whether it is an encrypted store, which asks every run that
// writes to it for encryption.
func HasNamingKey(ctx context.Context, b storage.Backend) (bool, error) {
	_, err := b.Stat(ctx, NamingKeyObject)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// RecoverNamingKey reads the sealed naming key of the store in b and
// opens it with k's identities: a host that restores recovers the key
// with an identity. A missing copy is ErrNamingKey; a wrong identity
// ErrWrongIdentity naming recipients (the store's, as its manifests or
// config list them; may be nil).
func RecoverNamingKey(ctx context.Context, b storage.Backend, k *Keys, storeID string, recipients []string) (*NamingKey, error) {
	data, err := storage.ReadObject(ctx, b, NamingKeyObject, maxNamingKeyObject)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s holds no sealed naming key (%s)", ErrNamingKey, b.Location(), NamingKeyObject)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the sealed copy: %w", ErrNamingKey, err)
	}
	var plain bytes.Buffer
	if _, err := k.Open(ctx, &plain, bytes.NewReader(data), recipients); err != nil {
		return nil, err
	}
	n, err := parseNamingKey(plain.Bytes())
	if err != nil {
		return nil, err
	}
	if err := n.checkStore(storeID, "the sealed naming key in "+b.Location()); err != nil {
		return nil, err
	}
	return n, nil
}

// InitNamingKey makes the naming key of a new encrypted store: it stores
// the sealed copy in b first (the exclusive create decides which writer
// made the store's key), then writes the key file at path. A store that
// has a key already fails with ErrNamingKeyExists: copy its key file from
// the host that made it, or recover it with an identity
// (RecoverNamingKey) and write it with WriteKeyFile.
func InitNamingKey(ctx context.Context, b storage.Backend, path, storeID string, k *Keys) (*NamingKey, error) {
	if !k.Encrypts() {
		return nil, fmt.Errorf("%w: an encrypted store's naming key is sealed to its recipients", ErrPlaintextRefused)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w: %s exists (a naming key is never replaced)", ErrNamingKeyExists, path)
	}
	n, err := NewNamingKey(storeID)
	if err != nil {
		return nil, err
	}
	if _, err := StoreNamingKey(ctx, b, n, k); err != nil {
		return nil, err
	}
	if err := WriteKeyFile(ctx, path, n); err != nil {
		return nil, fmt.Errorf("%w (the store's sealed copy was written: recover the key with an identity)", err)
	}
	return n, nil
}

// Polynomial derives the store's chunker polynomial from the key
// (irreducible, degree 53): in an encrypted store the polynomial is as
// secret as the key, since whoever knows it can tell known files from the
// chunk sizes at rest. Writers hold the key, so they need nothing else;
// config.json then records no polynomial.
func (n *NamingKey) Polynomial() (chunker.Pol, error) {
	pol, err := chunker.DerivePolynomial(&keyStream{key: n.key[:], label: "dockpack chunker polynomial v1"})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNamingKey, err)
	}
	return pol, nil
}

// keyStream is an endless deterministic stream under a key:
// HMAC-SHA256(key, label || counter) for counter = 0, 1, …
type keyStream struct {
	key   []byte
	label string
	ctr   uint64
	buf   []byte
}

func (s *keyStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.buf) == 0 {
			m := hmac.New(sha256.New, s.key)
			m.Write([]byte(s.label))
			m.Write(binary.BigEndian.AppendUint64(nil, s.ctr))
			s.ctr++
			s.buf = m.Sum(nil)
		}
		k := copy(p[n:], s.buf)
		s.buf = s.buf[k:]
		n += k
	}
	return n, nil
}
