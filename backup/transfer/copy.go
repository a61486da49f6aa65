// Package transfer copies complete packs between targets (a verified
// directory, object storage): `dockpack copy PACK --to URL`; lists, fetches
// and prunes the packs of a target through its storage.Backend (object
// storage has no directory to pin: list.go, fetch.go, prune.go).
//
// A copy is verified on arrival — every file is hashed while it is read
// from the source (a damaged source stops the copy) and again read back
// from the destination, and both must be the manifest's sha256 — resumable
// — a file already at the destination with the manifest's size and sha256
// is not copied again — and invisible at the destination until complete:
// on a backend that renames a prefix (a local directory) the pack is
// written under .partial-<name>.copy/ and renamed; elsewhere (object
// storage) its manifest.json, the object that makes a pack a pack, is
// written last. A store pack (format 2) carries the blobs it uses into the
// destination's pack store (store.go) before its own objects.
package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

// Errors of a copy, matched with errors.Is.
var (
	// ErrSource: the source pack is incomplete or damaged (a file differs
	// from its manifest); nothing is made visible at the destination.
	ErrSource = errors.New("source pack damaged")
	// ErrArrival: a file read back from the destination differs from the
	// manifest.
	ErrArrival = errors.New("copy verification failed at the destination")
	// ErrConflict: the destination has another pack under the same name.
	ErrConflict = errors.New("another pack of the same name at the destination")
)

// Options configure Copy.
type Options struct {
	// Pack is the pack's name (migration_pack_<ts>), a prefix in both
	// backends.
	Pack string
	// Progress, when set, is called as bytes arrive (file, done, total bytes of the pack).
	Progress func(file string, done, total int64)
	// Logger: zap.NewNop by default.
	Logger *zap.Logger
	// Owner holds the store leases of a store pack's copy. Default owner.Self("").
	Owner owner.Identity
}

// Result says what a copy did.
type Result struct {
	Pack        string `json:"pack"`
	Destination string `json:"destination"`
	Files       int    `json:"files"`
	// Copied files went over; Skipped ones were already there, complete
	// and matching (a resumed copy).
	Copied      int   `json:"copied"`
	Skipped     int   `json:"skipped"`
	Bytes       int64 `json:"bytes"`
	CopiedBytes int64 `json:"copied_bytes"`
	// AlreadyThere: the destination had the whole pack (its manifest
	// included) and every file verified.
	AlreadyThere bool `json:"already_there"`
	// Bundles and BundleBytes: a store pack's bundles copied into the
	// destination's store (those it lacked).
	Bundles     int   `json:"bundles,omitempty"`
	BundleBytes int64 `json:"bundle_bytes,omitempty"`
}

// file is one object of the pack to copy.
type file struct {
	path   string
	size   int64
	sha256 string
}

// Copy copies the complete pack o.Pack from src to dst.
func Copy(ctx context.Context, src, dst storage.Backend, o Options) (res Result, err error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	res = Result{Pack: o.Pack, Destination: dst.Location()}
	if !strings.HasPrefix(o.Pack, pack.NamePrefix) || !storage.ValidKey(o.Pack) || strings.Contains(o.Pack, "/") {
		return res, fmt.Errorf("copy: %q is not a pack name (%s<time>)", o.Pack, pack.NamePrefix)
	}
	if o.Owner.Token == "" {
		o.Owner = owner.Self("")
	}
	mdata, m, files, err := sourcePack(ctx, src, o.Pack)
	if err != nil {
		return res, err
	}
	var used map[store.ID]bool
	if m.Store != nil {
		lists, u, err := storeFiles(ctx, src, o.Pack, m)
		if err != nil {
			return res, err
		}
		files, used = append(lists, files...), u
	}
	res.Files = len(files)
	for _, f := range files {
		res.Bytes += f.size
	}
	final := o.Pack + "/"
	if done, err := alreadyThere(ctx, dst, final, mdata); err != nil || done {
		if done {
			if err := verifyAll(ctx, dst, final, files); err != nil {
				return res, err
			}
			res.AlreadyThere, res.Skipped = true, len(files)
		}
		return res, err
	}
	stage := final
	if _, rename := dst.(storage.Renamer); rename {
		stage = pack.PartialPrefix + strings.TrimPrefix(o.Pack, pack.NamePrefix) + ".copy/"
	}
	c := &copier{src: src, dst: dst, o: o, res: &res}
	var sc *storeCopy
	if m.Store != nil {
		if sc, err = openStoreCopy(ctx, src, dst, m, o.Owner, o.Logger); err != nil {
			return res, err
		}
		defer sc.close(ctx)
		if res.Bundles, res.BundleBytes, err = sc.blobs(ctx, used, nil); err != nil {
			return res, err
		}
	}
	for _, f := range files {
		if err := c.file(ctx, final, stage, f); err != nil {
			return res, err
		}
	}
	if sc != nil {
		if err := sc.held(ctx); err != nil {
			return res, err
		}
	}
	if err := commitCopy(ctx, dst, stage, o.Pack, mdata); err != nil {
		return res, err
	}
	o.Logger.Info("pack copied", zap.String("pack", o.Pack), zap.String("to", dst.Location()),
		zap.Int("copied", res.Copied), zap.Int("skipped", res.Skipped), zap.Int64("bytes", res.CopiedBytes))
	return res, nil
}

// commitCopy writes the manifest (last, exclusively, read back) into stage
// and, on a destination that renames, makes the pack visible under name.
func commitCopy(ctx context.Context, dst storage.Backend, stage, name string, mdata []byte) error {
	if _, err := storage.WriteObject(ctx, dst, stage+pack.ManifestFile, bytes.NewReader(mdata), storage.CreateOptions{Exclusive: true, SizeHint: int64(len(mdata))}); err != nil {
		// There already: the same manifest, from a concurrent copy that
		// finished first or (partial directory) a killed one.
		if same, _ := alreadyThere(ctx, dst, stage, mdata); !errors.Is(err, storage.ErrExists) || !same {
			return fmt.Errorf("copy: writing %s%s: %w", stage, pack.ManifestFile, err)
		}
	}
	if err := readBack(ctx, dst, stage+pack.ManifestFile, int64(len(mdata)), sha256Hex(mdata)); err != nil {
		return err
	}
	if renamer, ok := dst.(storage.Renamer); ok {
		if err := renamer.RenamePrefix(ctx, strings.TrimSuffix(stage, "/"), name); err != nil {
			return fmt.Errorf("copy: making %s visible: %w", name, err)
		}
	}
	return nil
}

// sourcePack reads the source's manifest and lists the files to copy:
// every file of the manifest, and SHA256SUMS (checked against it).
func sourcePack(ctx context.Context, src storage.Backend, name string) ([]byte, *pack.Manifest, []file, error) {
	mdata, err := storage.ReadObject(ctx, src, name+"/"+pack.ManifestFile, 64<<20)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("copy: %s in %s: %w: no %s (not a pack, or an incomplete one)", name, src.Location(), ErrSource, pack.ManifestFile)
		}
		return nil, nil, nil, fmt.Errorf("copy: reading the manifest of %s: %w", name, err)
	}
	m, err := pack.ParseManifest(mdata)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("copy: %s: %w: %w", name, ErrSource, err)
	}
	files := make([]file, 0, len(m.Files)+1)
	for _, f := range m.Files {
		if m.Store == nil { // a store pack's objects are its chunk lists (storeFiles)
			files = append(files, file{path: f.Path, size: f.Size, sha256: f.SHA256})
		}
	}
	sums, err := storage.ReadObject(ctx, src, name+"/"+pack.SumsFile, 16<<20)
	switch {
	case err == nil:
		parsed, perr := pack.ParseSums(bytes.NewReader(sums))
		if perr != nil || !sumsMatch(parsed, m) {
			return nil, nil, nil, fmt.Errorf("copy: %s: %w: %s disagrees with the manifest", name, ErrSource, pack.SumsFile)
		}
		files = append(files, file{path: pack.SumsFile, size: int64(len(sums)), sha256: sha256Hex(sums)})
	case !errors.Is(err, storage.ErrNotExist):
		return nil, nil, nil, fmt.Errorf("copy: reading %s of %s: %w", pack.SumsFile, name, err)
	}
	return mdata, m, files, nil
}

// sumsMatch reports whether every line of SHA256SUMS agrees with the manifest.
// (a store pack's SHA256SUMS lists its chunk lists).
func sumsMatch(sums []pack.Sum, m *pack.Manifest) bool {
	want := map[string]string{}
	for _, f := range m.Files {
		if m.Store != nil && f.Chunks != nil {
			want[f.Chunks.List] = f.Chunks.ListSHA256
		} else {
			want[f.Path] = f.SHA256
		}
	}
	for _, s := range sums {
		if s.Path == pack.ManifestFile {
			continue
		}
		if sum, ok := want[s.Path]; !ok || sum != s.SHA256 {
			return false
		}
	}
	return true
}

// alreadyThere reports whether dst has the pack's manifest: the same bytes
// (done), or another pack under the name (ErrConflict).
func alreadyThere(ctx context.Context, dst storage.Backend, final string, mdata []byte) (bool, error) {
	have, err := storage.ReadObject(ctx, dst, final+pack.ManifestFile, 64<<20)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("copy: looking for %s%s at the destination: %w", final, pack.ManifestFile, err)
	case !bytes.Equal(have, mdata):
		return false, fmt.Errorf("copy: %s%s in %s: %w", final, pack.ManifestFile, dst.Location(), ErrConflict)
	}
	return true, nil
}

// verifyAll reads back every file of a pack already at the destination.
func verifyAll(ctx context.Context, dst storage.Backend, final string, files []file) error {
	for _, f := range files {
		if err := readBack(ctx, dst, final+f.path, f.size, f.sha256); err != nil {
			return err
		}
	}
	return nil
}

type copier struct {
	src, dst storage.Backend
	o        Options
	res      *Result
	done     int64
}

// file copies one file unless the stage already has it, complete and
// matching; the copy is hashed on the way and read back.
func (c *copier) file(ctx context.Context, final, stage string, f file) error {
	key := stage + f.path
	if info, err := c.dst.Stat(ctx, key); err == nil && info.Size == f.size {
		if readBack(ctx, c.dst, key, f.size, f.sha256) == nil {
			c.res.Skipped++
			c.done += f.size
			c.progress(f)
			return nil
		}
	}
	rc, err := c.src.Open(ctx, final+f.path, 0, -1)
	if err != nil {
		return fmt.Errorf("copy: opening %s%s: %w", final, f.path, err)
	}
	defer rc.Close()
	u, err := c.dst.Create(ctx, key, storage.CreateOptions{SizeHint: f.size})
	if err != nil {
		return fmt.Errorf("copy: creating %s: %w", key, err)
	}
	h := sha256.New()
	n, err := io.Copy(u, io.TeeReader(&counting{r: rc, c: c, f: f}, h))
	if err == nil && (n != f.size || hex.EncodeToString(h.Sum(nil)) != f.sha256) {
		err = fmt.Errorf("copy: %s%s in %s: %w: %d bytes with sha256 %s, the manifest says %d with %s",
			final, f.path, c.src.Location(), ErrSource, n, hex.EncodeToString(h.Sum(nil)), f.size, f.sha256)
	}
	if err == nil {
		_, err = u.Commit(ctx)
	}
	if err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("copy: %s: %w", f.path, err)
	}
	if err := readBack(ctx, c.dst, key, f.size, f.sha256); err != nil {
		return err
	}
	c.res.Copied++
	c.res.CopiedBytes += n
	return nil
}

func (c *copier) progress(f file) {
	if c.o.Progress != nil {
		c.o.Progress(f.path, c.done, c.res.Bytes)
	}
}

// counting reports progress as the source is read.
type counting struct {
	r io.Reader
	c *copier
	f file
}

func (cr *counting) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.c.done += int64(n)
	cr.c.progress(cr.f)
	return n, err
}

// readBack reads key whole from the destination and checks its size and sha256.
func readBack(ctx context.Context, b storage.Backend, key string, size int64, sum string) error {
	rc, err := b.Open(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("copy: reading back %s: %w", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("copy: reading back %s: %w", key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sum {
		return fmt.Errorf("copy: %s in %s: %w: %d bytes with sha256 %s, the manifest says %d with %s", key, b.Location(), ErrArrival, n, got, size, sum)
	}
	return nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
