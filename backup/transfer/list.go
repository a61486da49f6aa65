package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/store"
)

// maxManifest bounds a manifest read from a target.
const maxManifest = 64 << 20

// List lists the packs of a target reached through its backend, newest
// first, as pack.List does for a directory: a name with a manifest.json is
// a complete pack (invalid when the manifest does not parse), one with
// objects but no manifest a partial one (being written, or left by a
// writer that died). Path is the pack's location (s3://bucket/prefix/<name>).
func List(ctx context.Context, b storage.Backend) ([]pack.Info, error) {
	type seen struct {
		size     int64
		manifest bool
		modTime  time.Time
	}
	names := map[string]*seen{}
	err := b.List(ctx, pack.NamePrefix, func(in storage.Info) error {
		name, rest, ok := strings.Cut(in.Key, "/")
		if !ok {
			return nil
		}
		s := names[name]
		if s == nil {
			s = &seen{}
			names[name] = s
		}
		s.size += in.Size
		if in.ModTime.After(s.modTime) {
			s.modTime = in.ModTime
		}
		if rest == pack.ManifestFile {
			s.manifest = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs in %s: %w", b.Location(), err)
	}
	now := time.Now()
	out := make([]pack.Info, 0, len(names))
	for name, s := range names {
		pi := pack.Info{Name: name, Path: Location(b, name), Status: pack.StatusComplete, Size: s.size}
		if t, ok := packTime(strings.TrimPrefix(name, pack.NamePrefix)); ok {
			pi.CreatedAt = t
		} else {
			pi.CreatedAt = s.modTime
		}
		if !s.manifest {
			pi.Status = pack.StatusPartial
		} else if m, hash, err := ReadManifest(ctx, b, name); err != nil {
			pi.Status, pi.Problem = pack.StatusInvalid, err.Error()
		} else {
			pi.Project, pi.CreatedAt, pi.Contents, pi.PackageHash = m.Project, m.CreatedAt, m.Contents, hash
			pi.Size = m.PackSize()
			pi.Format, pi.Added = m.FormatVersion, pi.Size
			pi.Encryption = m.Encryption
			if m.Store != nil {
				pi.Added = m.Store.NewBytes
			}
		}
		if !pi.CreatedAt.IsZero() {
			pi.Age = now.Sub(pi.CreatedAt)
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b pack.Info) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return out, nil
}

// ReadManifest reads and parses a pack's manifest from b and returns it
// with its sha256 (the package hash).
func ReadManifest(ctx context.Context, b storage.Backend, name string) (*pack.Manifest, string, error) {
	data, err := storage.ReadObject(ctx, b, name+"/"+pack.ManifestFile, maxManifest)
	if err != nil {
		return nil, "", err
	}
	m, err := pack.ParseManifest(data)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return m, hex.EncodeToString(sum[:]), nil
}

// Location is a pack's location in b (its backend location joined with its name).
func Location(b storage.Backend, name string) string {
	return strings.TrimSuffix(b.Location(), "/") + "/" + name
}

// packTime parses the yyyymmdd_HHMMSS_mmm suffix of a pack name.
func packTime(s string) (time.Time, bool) {
	if len(s) != len("20060102_150405_000") {
		return time.Time{}, false
	}
	t, err := time.Parse(pack.TimeLayout, s[:15]+"."+s[16:])
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// UsedBlobs are the blobs a store pack in b uses (its chunk lists, each
// checked against the manifest); a classic pack uses none.
func UsedBlobs(ctx context.Context, b storage.Backend, name string) (map[store.ID]bool, error) {
	m, _, err := ReadManifest(ctx, b, name)
	if err != nil {
		return nil, err
	}
	if m.Store == nil {
		return map[store.ID]bool{}, nil
	}
	_, used, err := storeFiles(ctx, b, name, m)
	return used, err
}
