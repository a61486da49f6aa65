package pack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// PackStatus classifies a directory in a target.
type Status string

// Pack statuses.
const (
	StatusComplete Status = "complete"
	StatusPartial  Status = "partial"
	StatusInvalid  Status = "invalid"
)

// PackInfo is one pack (or partial pack) found in a target directory.
type Info struct {
	Name        string        `json:"name"`
	Path        string        `json:"path"`
	Status      Status        `json:"status"`
	Project     string        `json:"project,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	Size        int64         `json:"size"`
	Contents    []Component   `json:"contents,omitempty"`
	PackageHash string        `json:"package_hash,omitempty"`
	Age         time.Duration `json:"age_ns"`
	// Format is the manifest's format_version (1 classic, 2 store).
	Format int `json:"format,omitempty"`
	// Added is what the pack added to the target: a classic pack its size,
	// a store pack the bytes of the blobs it was the first to store.
	Added int64 `json:"added"`
	// Encryption says the pack is sealed and to which recipients (their
	// public keys; sealed.go); nil: plaintext.
	Encryption *EncryptionEntry `json:"encryption,omitempty"`
	// Problem says why a pack is invalid.
	Problem string `json:"problem,omitempty"`
}

// ListPacks lists the packs and partial packs in target, newest first. It
// reads only each pack's manifest.json (no hashing of data files).
func List(ctx context.Context, target string) ([]Info, error) {
	ents, err := os.ReadDir(target)
	if err != nil {
		return nil, fmt.Errorf("list packs in %s: %w", target, err)
	}
	now := time.Now()
	var out []Info
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		var pi Info
		switch {
		case strings.HasPrefix(name, NamePrefix):
			pi = inspectPack(ctx, filepath.Join(target, name))
		case strings.HasPrefix(name, PartialPrefix):
			pi = Info{Name: name, Path: filepath.Join(target, name), Status: StatusPartial}
			ts, _, _ := strings.Cut(strings.TrimPrefix(name, PartialPrefix), ".") // <ts>.<owner tag>
			if t, ok := packTime(ts); ok {
				pi.CreatedAt = t
			}
			if fi, err := e.Info(); err == nil && pi.CreatedAt.IsZero() {
				pi.CreatedAt = fi.ModTime()
			}
			pi.Size = dirSize(pi.Path)
		default:
			continue
		}
		if !pi.CreatedAt.IsZero() {
			pi.Age = now.Sub(pi.CreatedAt)
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return out, nil
}

// ReadManifest reads and validates <pack>/manifest.json and returns it with
// its sha256 (the package hash).
func ReadManifest(ctx context.Context, packDir string) (*Manifest, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	p := filepath.Join(packDir, ManifestFile)
	fi, err := os.Stat(p)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: %v", ErrManifest, p, err)
	}
	if fi.Size() > 64<<20 {
		return nil, "", fmt.Errorf("%w: %s is %d bytes, far larger than any manifest", ErrManifest, p, fi.Size())
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrManifest, err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", p, err)
	}
	return m, sha256Hex(data), nil
}

func inspectPack(ctx context.Context, dir string) Info {
	name := filepath.Base(dir)
	pi := Info{Name: name, Path: dir, Status: StatusComplete}
	if t, ok := packTime(strings.TrimPrefix(name, NamePrefix)); ok {
		pi.CreatedAt = t
	}
	m, hash, err := ReadManifest(ctx, dir)
	if err != nil {
		pi.Status = StatusInvalid
		pi.Problem = err.Error()
		pi.Size = dirSize(dir)
		return pi
	}
	pi.Project = m.Project
	pi.CreatedAt = m.CreatedAt
	pi.Contents = m.Contents
	pi.PackageHash = hash
	pi.Size = m.PackSize()
	pi.Format, pi.Added = m.FormatVersion, pi.Size
	pi.Encryption = m.Encryption
	if m.Store != nil {
		pi.Added = m.Store.NewBytes
	}
	return pi
}

// packTime parses the yyyymmdd_HHMMSS_mmm suffix of a pack name.
func packTime(s string) (time.Time, bool) {
	if len(s) != len("20060102_150405_000") {
		return time.Time{}, false
	}
	t, err := time.Parse(TimeLayout, s[:15]+"."+s[16:])
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // best effort: a size, not a verdict
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
