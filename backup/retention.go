package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/internal/fsutil"
)

// DeletingPrefix names a pack being deleted: Prune renames a pack to
// .deleting-migration_pack_<ts> before removing it, so a half-deleted pack
// never looks complete. Leftovers of an interrupted deletion are removed by
// the next Prune.
const DeletingPrefix = ".deleting-" + PackPrefix

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
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
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
	if o.MaxAge < 0 || o.PartialOlderThan < 0 {
		errs = append(errs, fmt.Errorf("negative age (max age %s, partial older than %s)", o.MaxAge, o.PartialOlderThan))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: prune: %w", ErrInvalidSpec, errors.Join(errs...))
}

// PruneResult lists what Prune deleted (or, with DryRun, would delete) and
// the complete packs of the project it kept.
type PruneResult struct {
	Deleted []PackInfo `json:"deleted"`
	Kept    []PackInfo `json:"kept"`
}

// Prune deletes old packs from a target. Its invariants:
//   - the newest complete pack (of the project) is never deleted, nor any
//     pack not strictly older than it;
//   - beyond that, complete packs are deleted oldest first when they are
//     beyond the Keep newest, or older than MaxAge;
//   - invalid packs (unreadable manifest) and packs of other projects are
//     never touched;
//   - partial directories are deleted only when older than
//     PartialOlderThan and not protected.
//
// Deleting a pack renames it to .deleting-* first. Errors deleting one pack
// do not stop the others; they are joined in the returned error.
func Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return PruneResult{}, err
	}
	packs, err := ListPacks(ctx, o.Target)
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
	var complete []PackInfo // newest first, as ListPacks orders them
	var partials []PackInfo
	for _, p := range packs {
		switch {
		case p.Status == PackComplete && (o.Project == "" || p.Project == o.Project):
			complete = append(complete, p)
		case p.Status == PackPartial:
			partials = append(partials, p)
		}
	}
	res := PruneResult{Deleted: []PackInfo{}, Kept: []PackInfo{}}
	var doomed []PackInfo
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
			if !p.CreatedAt.IsZero() && now.Sub(p.CreatedAt) > o.PartialOlderThan && !protected(p.Path) {
				doomed = append(doomed, p)
				reasons = append(reasons, fmt.Sprintf("partial, older than %s", o.PartialOlderThan))
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
func deletePackDir(target string, p PackInfo) error {
	if filepath.Dir(p.Path) != target {
		return fmt.Errorf("refusing to delete %s: not directly inside %s", p.Path, target)
	}
	dir := p.Path
	if strings.HasPrefix(p.Name, PackPrefix) {
		gone := filepath.Join(target, DeletingPrefix+strings.TrimPrefix(p.Name, PackPrefix))
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
