package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"

	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/storage"
)

// An encrypted store (docs/encryption.md §4): blobs are named by
// HMAC-SHA256(naming key, plaintext) instead of their sha256, each blob's
// zstd frame is sealed to the store's recipients (one age file per blob;
// bundles and indexes keep their layout, their lengths are the sealed
// frames'), the chunker's polynomial is derived from the naming key and
// config.json records none, only the key's fingerprint. The naming key
// lives sealed in the store (seal.NamingKeyObject) and in a key file (0600)
// on every writing host.

// SchemeAge is the encryption scheme of an encrypted store.
const SchemeAge = "age"

// NamingHMAC names an encrypted store's blobs.
const NamingHMAC = "hmac-sha256"

// EncryptionConfig is config.json's encryption section (absent: a
// plaintext store, its blobs named by the sha256 of their plaintext).
type EncryptionConfig struct {
	Scheme string `json:"scheme"`
	Naming string `json:"naming"`
	// KeyFingerprint is the naming key's seal.NamingKey.Fingerprint: a
	// writer whose key file is another key is refused before writing.
	KeyFingerprint string `json:"key_fingerprint"`
}

// Sealed reports whether the store is encrypted.
func (s *Store) Sealed() bool { return s.cfg.Encryption != nil }

// Unsealed reports whether the store can name, seal or open blobs: a
// plaintext store, or an encrypted one whose naming key is known.
func (s *Store) Unsealed() bool { return !s.Sealed() || s.nk != nil }

// blobID is the id of a blob's plaintext: its sha256, or in an encrypted
// store its HMAC under the naming key.
func (s *Store) blobID(plain []byte) ID {
	if s.nk != nil {
		return ID(s.nk.Name(plain))
	}
	return ID(sha256.Sum256(plain))
}

// FileHash is the hash a file's checksum is made with: sha256 in a
// plaintext store, HMAC-SHA256 under the naming key in an encrypted one
// (never a plaintext hash of content at rest).
func (s *Store) FileHash() hash.Hash {
	if s.nk != nil {
		return s.nk.NewHash()
	}
	return sha256.New()
}

// sealFrame seals a compressed frame to the writer's recipients.
func (s *Store) sealFrame(ctx context.Context, frame []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(frame) + len(frame)>>12 + 1024)
	w, err := s.keys.EncryptUnhashed(ctx, &buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(frame); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openFrame opens a sealed frame: a frame that fails to open is a
// *BlobError; no identity or a wrong one is the seal error itself.
func (s *Store) openFrame(ctx context.Context, id ID, bundle string, frame []byte) ([]byte, error) {
	if s.nk == nil || !s.keys.Opens() {
		return nil, s.noIdentity()
	}
	var plain bytes.Buffer
	plain.Grow(len(frame))
	r, err := s.keys.DecryptUnhashed(ctx, bytes.NewReader(frame), s.expect) // the frame is checked by its bundle's sha256 and its keyed name
	if err == nil {
		_, err = plain.ReadFrom(r)
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, seal.ErrWrongIdentity) || errors.Is(err, seal.ErrNoIdentity) {
			return nil, err
		}
		return nil, &BlobError{Blob: id, Bundle: bundle, Problem: "does not open: " + err.Error()}
	}
	return plain.Bytes(), nil
}

// noIdentity is the error of reading an encrypted store's content
// without its naming key.
func (s *Store) noIdentity() error {
	return fmt.Errorf("%w: the store in %s is encrypted: give --age-identity FILE with the identity of one of its recipients (the daemon: age_identity_file) to read its content",
		seal.ErrNoIdentity, s.b.Location())
}

// checkFrame checks a stored frame as far as the keys allow: opened,
// decompressed and named again (decodeBlob) when the store can open it;
// in an encrypted store without an identity, a well-formed age file
// (seal.Inspect: header, stanzas, payload). It returns the plaintext when
// it was decoded (nil otherwise).
func (s *Store) checkFrame(ctx context.Context, e BlobEntry, bundle string, frame, buf []byte) ([]byte, error) {
	if s.Sealed() && (s.nk == nil || !s.keys.Opens()) {
		if _, err := seal.Inspect(ctx, bytes.NewReader(frame)); err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, &BlobError{Blob: e.ID, Bundle: bundle, Problem: "is not a well-formed age file: " + err.Error()}
		}
		return nil, nil
	}
	return s.decodeBlob(ctx, e.ID, bundle, frame, e.RawLength, buf, true)
}

// Unseal gives an encrypted store the identities that open it: the naming
// key is recovered from the store's sealed copy (seal.RecoverNamingKey)
// and checked against config.json's fingerprint. expected are the
// recipients the caller knows (a manifest's), for a wrong identity's
// message. A plaintext store, or one unsealed already, is left as it is.
func (s *Store) Unseal(ctx context.Context, k *seal.Keys, expected []string) error {
	if !s.Sealed() || (s.nk != nil && s.keys.Opens()) {
		return nil
	}
	if !k.Opens() {
		return s.noIdentity()
	}
	nk, err := seal.RecoverNamingKey(ctx, s.b, k, s.cfg.ID, expected)
	if err != nil {
		return err
	}
	if err := s.checkFingerprint(nk, "the sealed naming key of "+s.b.Location()); err != nil {
		return err
	}
	return s.useKey(nk, k, expected)
}

// useKey sets the naming key and the keys, and derives the polynomial.
func (s *Store) useKey(nk *seal.NamingKey, k *seal.Keys, expected []string) error {
	pol, err := nk.Polynomial()
	if err != nil {
		return err
	}
	s.nk, s.keys, s.expect, s.pol = nk, k, expected, pol
	return nil
}

func (s *Store) checkFingerprint(nk *seal.NamingKey, what string) error {
	if fp := nk.Fingerprint(); fp != s.cfg.Encryption.KeyFingerprint {
		return fmt.Errorf("%w: %s has fingerprint %s, the store in %s records %s: it is not this store's naming key (nothing was written)",
			seal.ErrNamingKey, what, fp, s.b.Location(), s.cfg.Encryption.KeyFingerprint)
	}
	return nil
}

// openWriting applies the encryption rules for a writer, before anything
// is written to the store: an encrypted store (config, or a sealed naming
// key) refuses a plaintext run (seal.ErrPlaintextRefused); a plaintext
// store refuses an encrypted run (seal.ErrNamingKey: never converted in
// place); an encrypted run reads its naming key file and checks it
// against the store's fingerprint. nk is the key a new store was just
// made with (nil otherwise).
func (s *Store) openWriting(ctx context.Context, o Options, nk *seal.NamingKey) error {
	encrypts := o.Seal.Encrypts()
	if !s.Sealed() {
		has, err := seal.HasNamingKey(ctx, s.b)
		if err != nil {
			return err
		}
		switch {
		case has:
			return fmt.Errorf("%w: the store in %s has a sealed naming key (%s) but its config records no encryption: it is damaged or was made by a newer dockpack; nothing was written",
				seal.ErrNamingKey, s.b.Location(), seal.NamingKeyObject)
		case encrypts:
			return fmt.Errorf("%w: the store in %s is a plaintext store (its blob names are plaintext hashes) and is never converted in place: back up encrypted to a new store (another target or prefix), or drop the age options to write plaintext here; nothing was written",
				seal.ErrNamingKey, s.b.Location())
		}
		return nil
	}
	if !encrypts {
		return fmt.Errorf("%w: the encrypted store in %s asks for encryption: give its recipients (--age-recipient or --age-recipients-file, the daemon's age_recipients_file) and its naming key file (--age-naming-key); nothing was written",
			seal.ErrPlaintextRefused, s.b.Location())
	}
	path := o.keyFile(s.cfg.ID)
	if nk == nil {
		var err error
		if nk, err = readKeyFile(ctx, path, s, o); err != nil || nk == nil { // nil: a check that would recover it (CheckWriting)
			return err
		}
	}
	if err := s.checkFingerprint(nk, "the naming key file "+path); err != nil {
		return err
	}
	return s.useKey(nk, o.Seal, o.Seal.Recipients())
}

// readKeyFile reads a writer's naming key file, naming what to do when
// there is none. A missing key file is recovered from the store's sealed
// copy when k holds an identity of its recipients (a new backup host),
// and written for the next runs (recoverKeyFile).
func readKeyFile(ctx context.Context, path string, s *Store, o Options) (*seal.NamingKey, error) {
	k := o.Seal
	if path == "" {
		return nil, fmt.Errorf("%w: the encrypted store in %s needs its naming key file to be written to: give --age-naming-key FILE (the daemon keeps it in its state dir); nothing was written",
			seal.ErrNamingKey, s.b.Location())
	}
	nk, err := seal.ReadKeyFile(ctx, path, s.cfg.ID)
	if errors.Is(err, fs.ErrNotExist) && k.Opens() {
		if o.checkOnly {
			return nil, nil
		}
		return s.recoverKeyFile(ctx, path, k)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the encrypted store in %s has a naming key and the key file %s does not exist: copy the key file (mode 0600) from the host that made the store, or give --age-identity (the daemon: age_identity_file) with an identity of its recipients to recover it; nothing was written",
			seal.ErrNamingKey, s.b.Location(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w; nothing was written", err)
	}
	return nk, nil
}

// recoverKeyFile opens the store's sealed naming key with k's identities,
// checks it against config.json's fingerprint and writes it to path (0600,
// never replacing a file): a backup host needs no identity after that.
func (s *Store) recoverKeyFile(ctx context.Context, path string, k *seal.Keys) (*seal.NamingKey, error) {
	nk, err := seal.RecoverNamingKey(ctx, s.b, k, s.cfg.ID, nil)
	if err != nil {
		return nil, fmt.Errorf("recovering the naming key file %s of the encrypted store in %s: %w; nothing was written", path, s.b.Location(), err)
	}
	if err := s.checkFingerprint(nk, "the sealed naming key of "+s.b.Location()); err != nil {
		return nil, err
	}
	if err := seal.WriteKeyFile(ctx, path, nk); err != nil {
		return nil, fmt.Errorf("%w; nothing was written to the store", err)
	}
	return nk, nil
}

// createSealed makes the naming key of a new encrypted store with id:
// the sealed copy in the store first (exclusive: one key per store), then
// the key file at o.NamingKeyFile.
func createSealed(ctx context.Context, b storage.Backend, o Options, id string) (*seal.NamingKey, *EncryptionConfig, error) {
	path := o.keyFile(id)
	if err := checkNewKeyFile(b, path); err != nil {
		return nil, nil, err
	}
	nk, err := seal.InitNamingKey(ctx, b, path, id, o.Seal)
	if err != nil {
		return nil, nil, err
	}
	return nk, &EncryptionConfig{Scheme: SchemeAge, Naming: NamingHMAC, KeyFingerprint: nk.Fingerprint()}, nil
}

// checkNewKeyFile says whether a new encrypted store in b can keep its
// naming key at path: a path is given and holds no file.
func checkNewKeyFile(b storage.Backend, path string) error {
	if path == "" {
		return fmt.Errorf("%w: a new encrypted store's naming key is kept in a key file: give --age-naming-key FILE (the daemon keeps it in its state dir); nothing was written",
			seal.ErrNamingKey)
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s creates a new encrypted store and the key file %s exists (another store's naming key, never replaced): give a new path for this store's key file; nothing was written",
			seal.ErrNamingKeyExists, b.Location(), path)
	}
	return nil
}

// CheckWriting tells what a writer opening the store in b with o (Create)
// would be refused for by the encryption rules (store.Open, seal.go),
// without creating or writing anything: dockpack plan says it before a
// backup would. A store that does not exist yet is checked as a new one.
func CheckWriting(ctx context.Context, b storage.Backend, o Options) error {
	cfg, err := readConfig(ctx, b)
	if errors.Is(err, ErrNoStore) {
		if !o.Seal.Encrypts() || (o.NamingKeyFile == "" && o.NamingKeyDir != "") {
			return nil // plaintext, or one key file per store id: nothing to check yet
		}
		return checkNewKeyFile(b, o.NamingKeyFile)
	}
	if err != nil {
		return err
	}
	o.checkOnly = true
	return (&Store{b: b, cfg: cfg}).openWriting(ctx, o, nil)
}

// CopyNamingKey copies an encrypted store's sealed naming key
// (seal.NamingKeyObject) from src to dst, as it is (no identity needed),
// when src has one: a copy of the store (transfer's) must carry it before
// its config.json, or the copy's content cannot be opened. It returns
// whether there was one. A dst holding the same sealed copy is fine; a
// different one is seal.ErrNamingKeyExists.
func CopyNamingKey(ctx context.Context, src, dst storage.Backend) (bool, error) {
	data, err := storage.ReadObject(ctx, src, seal.NamingKeyObject, 1<<20)
	if errors.Is(err, storage.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: reading the sealed copy in %s: %w", seal.ErrNamingKey, src.Location(), err)
	}
	_, err = storage.WriteObject(ctx, dst, seal.NamingKeyObject, bytes.NewReader(data), storage.CreateOptions{Exclusive: true, Mode: 0o600, SizeHint: int64(len(data))})
	if errors.Is(err, storage.ErrExists) {
		have, rerr := storage.ReadObject(ctx, dst, seal.NamingKeyObject, 1<<20)
		if rerr == nil && bytes.Equal(have, data) {
			return true, nil
		}
		return true, fmt.Errorf("%w: %s holds another sealed naming key than %s", seal.ErrNamingKeyExists, dst.Location(), src.Location())
	}
	if err != nil {
		return true, fmt.Errorf("%w: writing the sealed copy to %s: %w", seal.ErrNamingKey, dst.Location(), err)
	}
	return true, nil
}
