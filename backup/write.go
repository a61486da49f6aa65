package backup

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"go.uber.org/zap"
)

// writeFile streams a pack file through the pinned pack directory: the
// produce func writes it through a chain that re-checks the mount pin,
// counts progress and hashes. The file is fsynced before it is recorded.
// In a store backup the file goes into the store as chunks instead, and
// its chunk list into the pack (writeStoreFile).
//
// In a sealed backup (r.seal) every file that holds content is sealed
// here, for every step, while it streams: produce writes plaintext into
// an age writer whose ciphertext goes down the same chain, so the size and
// sha256 the sink returns — the manifest's and SHA256SUMS' — are the
// ciphertext's, and the file is written as rel + ".age". Nothing but
// ciphertext reaches the target; manifest.json and SHA256SUMS (kind
// FileManifest) stay plaintext.
func (r *runner) writeFile(ctx context.Context, step progress.Step, item, rel string, kind pack.FileKind, produce func(w io.Writer) error) (pack.FileEntry, error) {
	wrap := func(w io.Writer) io.Writer {
		if h := r.spec.Hooks.WrapWriter; h != nil {
			w = h(step, item, w)
		}
		return r.trk.Writer(w)
	}
	var fe pack.FileEntry
	if r.store != nil && kind != pack.FileManifest { // a store pack's data goes into the store as chunks
		var err error
		if fe, err = r.writeStoreFile(ctx, wrap, rel, kind, produce); err != nil {
			return pack.FileEntry{}, err
		}
	} else {
		if r.seal != nil && kind != pack.FileManifest {
			rel, produce = rel+pack.SealedSuffix, r.sealed(ctx, produce)
		}
		n, sum, err := r.dir.WriteFile(ctx, rel, wrap, produce)
		if err != nil {
			return pack.FileEntry{}, err
		}
		fe = pack.FileEntry{Path: rel, Kind: kind, Size: n, SHA256: sum}
	}
	if kind != pack.FileManifest { // manifest.json and SHA256SUMS are not listed in the manifest
		r.files = append(r.files, fe)
	}
	return fe, nil
}

// sealed turns produce into a producer of its output sealed to r.seal.
// Sealing runs on the producer's goroutine, the ciphertext going straight
// down the sink's chain, which hashes it (the sealer does not hash it
// again). No goroutine of its own: on a machine whose cores the engine's
// export already keeps busy, handing the ciphertext to another goroutine
// (copied, to hash and write it there) cost more CPU than it overlapped —
// BenchmarkSealClassic, 256 MiB, the two alternated in one run: sealed /
// plain wall 1.028 on one goroutine, 1.174 with a write-behind one.
func (r *runner) sealed(ctx context.Context, produce func(w io.Writer) error) func(w io.Writer) error {
	return func(w io.Writer) error {
		sw, err := r.seal.EncryptUnhashed(ctx, w)
		if err != nil {
			return err
		}
		if err := produce(sw); err != nil {
			return err
		}
		return sw.Close()
	}
}

// decideSeal applies the no-silent-plaintext rule before anything is
// written (Spec.DecideSeal); a run with recipients seals (r.seal).
func (r *runner) decideSeal() error {
	sealing, err := r.spec.DecideSeal()
	if err != nil {
		return err
	}
	if sealing {
		r.seal = r.spec.Seal
		r.log.Info("the pack is sealed with age", zap.Strings("recipients", r.spec.Seal.Recipients()))
	}
	return nil
}

// DecideSeal is the no-silent-plaintext rule (seal.Decide) for the run s
// describes, decided before anything is written: true when it seals (it
// has recipients: a classic pack's files or a store pack's blobs, to a
// directory or to object storage); a refusal — a precheck StepError
// wrapping seal.ErrPlaintextRefused (encryption required, no recipient),
// or seal.ErrNamingKey (a sealed store backup without a naming key file)
// — otherwise. Never plaintext in place of a sealed pack. What the
// target's store asks (an encrypted store refuses a plaintext run, a
// plaintext one an encrypted run) is decided when the store is opened,
// before anything is written to it (store.Open).
func (s Spec) DecideSeal() (bool, error) {
	writer := "the classic pack writer"
	if s.Format == FormatStore {
		writer = "the pack store writer (--format store)"
	}
	if storage.IsS3URL(s.Target) {
		writer += " to object storage"
	}
	sealing, err := seal.Decide(seal.Run{Required: s.RequireEncryption != "", RequiredBy: s.RequireEncryption,
		Encrypts: s.Seal.Encrypts(), WriterSeals: true, Writer: writer})
	if err == nil && sealing && s.Format == FormatStore && s.NamingKeyFile == "" && s.NamingKeyDir == "" {
		err = fmt.Errorf("%w: an encrypted store's blobs are named with its naming key: give --age-naming-key FILE (made with a new store, kept 0600; the daemon keeps it in its state dir); nothing was written", seal.ErrNamingKey)
	}
	if err != nil {
		return false, stepErr(progress.StepPrecheck, "", err)
	}
	return sealing, nil
}

// targetSeal refuses a plaintext classic run to a target whose pack store
// is encrypted (seal.HasNamingKey: the store asks for encryption, §5),
// before anything is written. A store run decides it when the store opens
// (store.Open); a sealed run writes to any target.
func (r *runner) targetSeal(ctx context.Context) error {
	if r.seal != nil || r.spec.Format == FormatStore {
		return nil
	}
	b := r.remote
	if b == nil {
		lb, err := local.Open(ctx, local.Options{Pin: r.pin, Owner: r.spec.Owner.Token, CheckBytes: r.spec.PinCheckBytes})
		if err != nil {
			return err
		}
		defer lb.Close()
		b = lb
	}
	return plaintextRefused(ctx, b)
}

// plaintextRefused is seal.ErrPlaintextRefused when the target b holds an
// encrypted pack store, nil otherwise.
func plaintextRefused(ctx context.Context, b storage.Backend) error {
	has, err := seal.HasNamingKey(ctx, b)
	if err != nil || !has {
		return err
	}
	return fmt.Errorf("%w: the target %s holds an encrypted pack store, which asks for encryption: give --age-recipient or --age-recipients-file (the daemon's age_recipients_file), or back up to another target to write plaintext; nothing was written",
		seal.ErrPlaintextRefused, b.Location())
}

// CheckTargetSeal tells, before a run (dockpack plan), what the pack store
// of a directory target would refuse it for — a plaintext run to an
// encrypted store (either format), an encrypted store run to a plaintext
// store, a naming key file that is not the store's — as a precheck
// StepError; backup.Run refuses the same before writing. nil for a target
// that is not an existing directory (object storage: the run decides).
func (s Spec) CheckTargetSeal(ctx context.Context) error {
	if storage.IsS3URL(s.Target) || s.Target == "" {
		return nil
	}
	if fi, err := os.Stat(s.Target); err != nil || !fi.IsDir() {
		return nil
	}
	b, err := local.Open(ctx, local.Options{Dir: s.Target})
	if err != nil {
		return nil // the precheck says why
	}
	defer b.Close()
	switch {
	case s.Format == FormatStore:
		err = store.CheckWriting(ctx, b, store.Options{Seal: s.Seal, NamingKeyFile: s.NamingKeyFile, NamingKeyDir: s.NamingKeyDir})
	case !s.Seal.Encrypts():
		err = plaintextRefused(ctx, b)
	}
	if err != nil {
		return stepErr(progress.StepPrecheck, "", err)
	}
	return nil
}

// encryptionEntry is the manifest's encryption section: the recipients'
// public keys (nil: plaintext).
func (r *runner) encryptionEntry() *pack.EncryptionEntry {
	if r.seal == nil {
		return nil
	}
	return &pack.EncryptionEntry{Scheme: pack.SchemeAge, Recipients: r.seal.Recipients()}
}
