package prune

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
)

// deletePackDir removes one pack or partial directory of target; a complete
// pack is first renamed out of the migration_pack_* namespace.
func deletePackDir(root *os.Root, target string, p pack.Info) error {
	if filepath.Dir(p.Path) != target || strings.ContainsAny(p.Name, "/\\") {
		return fmt.Errorf("refusing to delete %s: not directly inside %s", p.Path, target)
	}
	name := p.Name
	if strings.HasPrefix(name, pack.NamePrefix) {
		gone := pack.DeletingPrefix + strings.TrimPrefix(name, pack.NamePrefix)
		if err := root.Rename(name, gone); err != nil {
			return fmt.Errorf("rename %s before deleting it: %w", p.Path, err)
		}
		if err := syncRoot(root); err != nil {
			return err
		}
		name = gone
	}
	if err := root.RemoveAll(name); err != nil {
		return fmt.Errorf("delete %s: %w", filepath.Join(target, name), err)
	}
	if strings.HasPrefix(name, pack.PartialPrefix) { // a dead writer's owner record goes with its partial pack
		_ = root.Remove(name + ".owner")
	}
	return nil
}

// syncRoot fsyncs the directory a Root is opened on.
func syncRoot(root *os.Root) error {
	f, err := root.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// newestCandidate is the pack Prune verifies before deleting: the newest
// complete pack of the project, or a newer unreadable pack whose manifest
// does not name another project (it may be the project's newest).
func newestCandidate(packs, complete []pack.Info, project string) *pack.Info {
	var newest *pack.Info
	if len(complete) > 0 {
		newest = &complete[0]
	}
	for i := range packs { // newest first
		p := &packs[i]
		if newest != nil && !p.CreatedAt.After(newest.CreatedAt) {
			break
		}
		if p.Status != pack.StatusInvalid {
			continue
		}
		if hint := manifestProjectHint(p.Path); hint != "" && project != "" && hint != project {
			continue
		}
		return p
	}
	return newest
}

// manifestProjectHint reads the project field of a manifest that does not
// validate ("" when even that fails).
func manifestProjectHint(dir string) string {
	f, err := os.Open(filepath.Join(dir, pack.ManifestFile))
	if err != nil {
		return ""
	}
	defer f.Close()
	var m struct {
		Project string `json:"project"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 64<<20)).Decode(&m); err != nil {
		return ""
	}
	return m.Project
}

// checkNewest verifies the newest pack (structurally unless Deep).
func checkNewest(ctx context.Context, p pack.Info, o Options) (*pack.VerifyResult, error) {
	if p.Status == pack.StatusInvalid {
		vr := pack.InvalidManifest(p, o.Lang)
		return vr, vr.Err()
	}
	return pack.Verify(ctx, p.Path, pack.VerifyOptions{Structural: !o.Deep, StagingDir: o.StagingDir, Lang: o.Lang, Logger: o.Logger})
}

// lastModified is the latest modification time of dir or anything in it
// (best effort: zero when nothing can be read).
func lastModified(dir string) time.Time {
	var last time.Time
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
		return nil
	})
	return last
}

// removeLeftovers removes what interrupted deletions left in target.
func removeLeftovers(root *os.Root) []error {
	dir, err := root.Open(".")
	if err != nil {
		return nil
	}
	ents, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), pack.DeletingPrefix) {
			if err := root.RemoveAll(e.Name()); err != nil {
				errs = append(errs, fmt.Errorf("remove leftover %s: %w", e.Name(), err))
			}
		}
	}
	return errs
}
