package pack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// DeletingPrefix names a pack being deleted: Prune renames a pack to
// .deleting-migration_pack_<ts> before removing it, so a half-deleted pack
// never looks complete. Leftovers of an interrupted deletion are removed by
// the next Prune.
const DeletingPrefix = ".deleting-" + NamePrefix

// PruneOptions says what Prune may delete.
type PruneOptions struct {
	// Target is the directory holding the packs (required).
	Target string
	// Project limits pruning to the complete packs of this compose project;
	// "" treats every complete pack as one set.
	Project string
	// Keep is how many of the newest complete packs are kept; 0 = no count limit.
	Keep int
	// MaxAge deletes complete packs older than this; 0 = no age limit.
	MaxAge time.Duration
	// PartialOlderThan deletes partial pack directories (.partial-*) older
	// than this; 0 leaves them alone. A partial directory may be a running
	// backup's: list those in Protect.
	PartialOlderThan time.Duration
	// Protect lists paths never deleted (the running job's partial directory,
	// the pack just made).
	Protect []string
	// LiveWithin: a partial directory in which anything was modified within
	// this long belongs to a backup still writing it and is never deleted,
	// whatever its name's age (a backup run outside the daemon holds no
	// lock that Prune could see). 0 = no activity check; the CLI uses
	// PartialOlderThan.
	LiveWithin time.Duration
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// Force deletes even when the newest pack fails verification. Without
	// it, Prune deletes nothing while the newest pack of the project (a
	// complete one, or an unreadable one that may be the project's) fails
	// a structural verification (manifest, SHA256SUMS, sizes, tar headers):
	// the older packs may be the only good ones.
	Force bool
	// Deep makes that check of the newest pack a full Verify (every file
	// re-hashed) instead of the structural one.
	Deep bool
	// StagingDir is local scratch space for a Deep check's SQLite copy. Default os.TempDir().
	StagingDir string
	// Logger receives one line per deletion. Default zap.NewNop().
	Logger *zap.Logger
	// Now is the clock for ages. Default time.Now.
	Now func() time.Time
}

func (o *PruneOptions) applyDefaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Target != "" {
		if abs, err := filepath.Abs(o.Target); err == nil {
			o.Target = abs
		}
	}
}

// Validate reports what is wrong with the options.
func (o PruneOptions) Validate() error {
	var errs []error
	if o.Target == "" {
		errs = append(errs, errors.New("no target directory given: the directory holding the packs"))
	}
	if o.Keep < 0 {
		errs = append(errs, fmt.Errorf("keep %d is negative: give the number of newest packs to keep, or 0 for no count limit", o.Keep))
	}
	if o.MaxAge < 0 || o.PartialOlderThan < 0 || o.LiveWithin < 0 {
		errs = append(errs, fmt.Errorf("negative age (max age %s, partial older than %s, live within %s)", o.MaxAge, o.PartialOlderThan, o.LiveWithin))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: prune: %w", sentinel.ErrInvalidSpec, errors.Join(errs...))
}

// PruneResult lists what Prune deleted (or, with DryRun, would delete) and
// the complete packs of the project it kept.
type PruneResult struct {
	Deleted []Info `json:"deleted"`
	Kept    []Info `json:"kept"`
	// Newest is the verification of the project's newest pack, made when
	// anything was to be deleted (nil otherwise).
	Newest *VerifyResult `json:"newest_check,omitempty"`
	// Refused: the newest pack failed that verification and nothing was
	// deleted; Blocked lists what would have been.
	Refused bool   `json:"refused"`
	Blocked []Info `json:"blocked,omitempty"`
}

// ErrPruneRefused: Prune deleted nothing because the newest pack of the
// project fails verification (the error also wraps ErrVerify's details).
var ErrPruneRefused = errors.New("prune refused")

// Prune deletes old packs from a target. Its invariants:
//   - the newest complete pack (of the project) is never deleted, nor any
//     pack not strictly older than it;
//   - beyond that, complete packs are deleted oldest first when they are
//     beyond the Keep newest, or older than MaxAge;
//   - invalid packs (unreadable manifest) and packs of other projects are
//     never touched;
//   - partial directories are deleted only when older than
//     PartialOlderThan, not protected, and (with LiveWithin) not written to
//     recently;
//   - nothing at all is deleted while the project's newest pack fails a
//     structural verification (Deep: a full one), unless Force: when the
//     newest backup is broken, the older packs may be the only good ones.
//     An unreadable pack newer than the newest complete one counts as the
//     newest unless its manifest names another project. The check runs
//     only when something is to be deleted.
//
// Deleting a pack renames it to .deleting-* first. Errors deleting one pack
// do not stop the others; they are joined in the returned error.
func Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return PruneResult{}, err
	}
	packs, err := List(ctx, o.Target)
	if err != nil {
		return PruneResult{}, err
	}
	now := o.Now()
	protected := func(p string) bool {
		for _, q := range o.Protect {
			if filepath.Clean(q) == filepath.Clean(p) {
				return true
			}
		}
		return false
	}
	var complete []Info // newest first, as ListPacks orders them
	var partials []Info
	for _, p := range packs {
		switch {
		case p.Status == StatusComplete && (o.Project == "" || p.Project == o.Project):
			complete = append(complete, p)
		case p.Status == StatusPartial:
			partials = append(partials, p)
		}
	}
	res := PruneResult{Deleted: []Info{}, Kept: []Info{}}
	var doomed []Info
	var reasons []string
	for i, p := range complete {
		var why string
		switch {
		case i == 0, !p.CreatedAt.Before(complete[0].CreatedAt), protected(p.Path):
			// the newest complete pack, one as new as it, or protected
		case o.Keep > 0 && i >= o.Keep:
			why = fmt.Sprintf("beyond the %d newest", o.Keep)
		case o.MaxAge > 0 && now.Sub(p.CreatedAt) > o.MaxAge:
			why = fmt.Sprintf("older than %s", o.MaxAge)
		}
		if why == "" {
			res.Kept = append(res.Kept, p)
			continue
		}
		doomed = append(doomed, p)
		reasons = append(reasons, why)
	}
	if o.PartialOlderThan > 0 {
		for _, p := range partials {
			if p.CreatedAt.IsZero() || now.Sub(p.CreatedAt) <= o.PartialOlderThan || protected(p.Path) {
				continue
			}
			if o.LiveWithin > 0 {
				if last := lastModified(p.Path); !last.IsZero() && time.Since(last) < o.LiveWithin {
					o.Logger.Info("prune: partial directory still written to, kept", zap.String("dir", p.Path), zap.Time("last_write", last))
					continue
				}
			}
			doomed = append(doomed, p)
			reasons = append(reasons, fmt.Sprintf("partial, older than %s", o.PartialOlderThan))
		}
	}
	if len(doomed) > 0 {
		newest := newestCandidate(packs, complete, o.Project)
		if newest != nil {
			vr, verr := checkNewest(ctx, *newest, o)
			res.Newest = vr
			if verr != nil && !errors.Is(verr, ErrVerify) {
				return res, fmt.Errorf("prune %s: checking the newest pack %s: %w", o.Target, newest.Name, verr)
			}
			if verr != nil {
				if !o.Force {
					res.Refused, res.Blocked = true, doomed
					o.Logger.Warn("prune refused: the newest pack fails verification", zap.String("pack", newest.Path), zap.Error(verr))
					return res, fmt.Errorf("%w: %s deletes nothing: the newest pack %s fails verification, so the older packs may be the only good ones (check it with `dockpack verify`, or force the prune): %w",
						ErrPruneRefused, o.Target, newest.Name, verr)
				}
				o.Logger.Warn("prune forced although the newest pack fails verification", zap.String("pack", newest.Path), zap.Error(verr))
			}
		}
	}
	var errs []error
	// Oldest first: an interrupted prune leaves the newer packs.
	order := make([]int, len(doomed))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return doomed[a].CreatedAt.Compare(doomed[b].CreatedAt) })
	for _, i := range order {
		p := doomed[i]
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if o.DryRun {
			o.Logger.Info("prune: would delete", zap.String("pack", p.Path), zap.String("why", reasons[i]))
			res.Deleted = append(res.Deleted, p)
			continue
		}
		if err := deletePackDir(o.Target, p); err != nil {
			errs = append(errs, err)
			o.Logger.Error("prune: cannot delete", zap.String("pack", p.Path), zap.Error(err))
			continue
		}
		o.Logger.Info("prune: deleted", zap.String("pack", p.Path), zap.String("why", reasons[i]))
		res.Deleted = append(res.Deleted, p)
	}
	// Leftovers of interrupted deletions.
	if !o.DryRun {
		if ents, err := os.ReadDir(o.Target); err == nil {
			for _, e := range ents {
				if e.IsDir() && strings.HasPrefix(e.Name(), DeletingPrefix) {
					if err := fsutil.RemoveAllQuiet(filepath.Join(o.Target, e.Name())); err != nil {
						errs = append(errs, fmt.Errorf("remove leftover %s: %w", e.Name(), err))
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("prune %s: %w", o.Target, errors.Join(errs...))
	}
	return res, nil
}

// deletePackDir removes one pack or partial directory of target; a complete
// pack is first renamed out of the migration_pack_* namespace.
func deletePackDir(target string, p Info) error {
	if filepath.Dir(p.Path) != target {
		return fmt.Errorf("refusing to delete %s: not directly inside %s", p.Path, target)
	}
	dir := p.Path
	if strings.HasPrefix(p.Name, NamePrefix) {
		gone := filepath.Join(target, DeletingPrefix+strings.TrimPrefix(p.Name, NamePrefix))
		if err := os.Rename(dir, gone); err != nil {
			return fmt.Errorf("rename %s before deleting it: %w", dir, err)
		}
		if err := fsutil.SyncDir(target); err != nil {
			return err
		}
		dir = gone
	}
	if err := fsutil.RemoveAllQuiet(dir); err != nil {
		return fmt.Errorf("delete %s: %w", dir, err)
	}
	return nil
}

// newestCandidate is the pack Prune verifies before deleting: the newest
// complete pack of the project, or a newer unreadable pack whose manifest
// does not name another project (it may be the project's newest).
func newestCandidate(packs, complete []Info, project string) *Info {
	var newest *Info
	if len(complete) > 0 {
		newest = &complete[0]
	}
	for i := range packs { // newest first
		p := &packs[i]
		if newest != nil && !p.CreatedAt.After(newest.CreatedAt) {
			break
		}
		if p.Status != StatusInvalid {
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
	f, err := os.Open(filepath.Join(dir, ManifestFile))
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
func checkNewest(ctx context.Context, p Info, o PruneOptions) (*VerifyResult, error) {
	if p.Status == StatusInvalid {
		vr := &VerifyResult{Pack: p.Path, Checks: []ComponentCheck{{Name: "manifest", Path: ManifestFile, Kind: FileManifest, Detail: p.Problem}}}
		return vr, vr.Err()
	}
	return Verify(ctx, p.Path, VerifyOptions{Structural: !o.Deep, StagingDir: o.StagingDir, Logger: o.Logger})
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
