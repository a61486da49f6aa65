package prune

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

	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
)

// Options says what Prune may delete.
type Options struct {
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
	// Lang is the language of the newest pack's check summaries. Default English.
	Lang string
	// Logger receives one line per deletion. Default zap.NewNop().
	Logger *zap.Logger
	// Now is the clock for ages. Default time.Now.
	Now func() time.Time
	// KeepDaily, KeepWeekly and KeepMonthly also keep the newest complete
	// pack of each of the last that many days, ISO weeks and months (UTC);
	// with Keep they form the retention policy (a pack any of them keeps
	// stays).
	KeepDaily, KeepWeekly, KeepMonthly int
	// Owner is who prunes, in the store's lease. Default: this process.
	Owner owner.Identity
	// LockWait is how long Prune waits for the store's exclusive lease
	// while backups hold it (0: refused at once, naming the holder).
	LockWait time.Duration
}

func (o *Options) applyDefaults() {
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
func (o Options) Validate() error {
	var errs []error
	if o.Target == "" {
		errs = append(errs, errors.New("no target directory given: the directory holding the packs"))
	}
	if o.KeepDaily < 0 || o.KeepWeekly < 0 || o.KeepMonthly < 0 {
		errs = append(errs, fmt.Errorf("keep-daily %d, keep-weekly %d, keep-monthly %d: none may be negative", o.KeepDaily, o.KeepWeekly, o.KeepMonthly))
	}
	if o.Keep < 0 {
		errs = append(errs, fmt.Errorf("keep %d is negative: give the number of newest packs to keep, or 0 for no count limit", o.Keep))
	}
	if o.MaxAge < 0 || o.PartialOlderThan < 0 || o.LiveWithin < 0 {
		errs = append(errs, fmt.Errorf("negative age (max age %s, partial older than %s, live within %s)", o.MaxAge, o.PartialOlderThan, o.LiveWithin))
	}
	if o.Lang != "" && !i18n.Valid(o.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (one of %s)", o.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: prune: %w", sentinel.ErrInvalidSpec, errors.Join(errs...))
}

// Result lists what Prune deleted (or, with DryRun, would delete) and
// the complete packs of the project it kept.
type Result struct {
	Deleted []pack.Info `json:"deleted"`
	Kept    []pack.Info `json:"kept"`
	// Newest is the verification of the project's newest pack, made when
	// anything was to be deleted (nil otherwise).
	Newest *pack.VerifyResult `json:"newest_check,omitempty"`
	// Refused: the newest pack failed that verification and nothing was
	// deleted; Blocked lists what would have been.
	Refused bool        `json:"refused"`
	Blocked []pack.Info `json:"blocked,omitempty"`
	// Reasons says why each pack of Deleted and Blocked is (or was to be)
	// deleted, by pack name.
	Reasons map[string]Reason `json:"reasons,omitempty"`
	// GC is what the store's garbage collection did (nil: no store, or none ran).
	GC *store.GCResult `json:"gc,omitempty"`
	// GCSkipped says why the garbage collection did not run.
	GCSkipped string `json:"gc_skipped,omitempty"`
}

// ErrRefused: Prune deleted nothing because the newest pack of the
// project fails verification (the error also wraps ErrVerify's details).
var ErrRefused = errors.New("prune refused")

// Run deletes old packs from a target. Its invariants:
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
// What to delete is Decide's decision. Deleting a pack renames it to
// .deleting-* first. Errors deleting one pack do not stop the others; they
// are joined in the returned error.
func Run(ctx context.Context, o Options) (Result, error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	// A target with a pack store: the exclusive lease first, so that no
	// backup adds data (or a pack) while the decision is made and carried out.
	sp, err := o.lockStore(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("prune %s: %w", o.Target, err)
	}
	defer sp.close(ctx)
	packs, err := pack.List(ctx, o.Target)
	if err != nil {
		return Result{}, err
	}
	d := Decide(packs, o, o.Now(), o.stillWritten)
	res := Result{Deleted: []pack.Info{}, Kept: d.Kept, Reasons: d.Reasons}
	if len(d.Delete) > 0 {
		if err := gateOnNewest(ctx, packs, d, o, &res); err != nil {
			return res, err
		}
	}
	var errs []error
	// Deletions go through the target's pinned handle: a share that drops
	// mid-prune cannot make it delete anything elsewhere.
	var root *os.Root
	if !o.DryRun {
		pin, err := mountcheck.Pin(ctx, o.Target)
		if err != nil {
			return res, fmt.Errorf("prune %s: %w", o.Target, err)
		}
		defer pin.Close()
		if root, err = pin.OpenRoot(); err != nil {
			return res, fmt.Errorf("prune %s: %w", o.Target, err)
		}
		defer root.Close()
	}
	// Oldest first: an interrupted prune leaves the newer packs.
	doomed := slices.Clone(d.Delete)
	slices.SortStableFunc(doomed, func(a, b pack.Info) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, p := range doomed {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		why := zap.String("why", d.Reasons[p.Name].Text(i18n.English))
		if o.DryRun {
			o.Logger.Info("prune: would delete", zap.String("pack", p.Path), why)
			res.Deleted = append(res.Deleted, p)
			continue
		}
		if err := deletePackDir(root, o.Target, p); err != nil {
			errs = append(errs, err)
			o.Logger.Error("prune: cannot delete", zap.String("pack", p.Path), zap.Error(err))
			continue
		}
		o.Logger.Info("prune: deleted", zap.String("pack", p.Path), why)
		res.Deleted = append(res.Deleted, p)
	}
	if !o.DryRun {
		errs = append(errs, removeLeftovers(root)...)
		if err := sp.collect(ctx, o, &res); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("prune %s: %w", o.Target, errors.Join(errs...))
	}
	return res, nil
}

// stillWritten reports whether anything in partial directory p was
// modified within LiveWithin (a backup still writing it).
func (o Options) stillWritten(p pack.Info) bool {
	if o.LiveWithin <= 0 {
		return false
	}
	last := lastModified(p.Path)
	if last.IsZero() || time.Since(last) >= o.LiveWithin {
		return false
	}
	o.Logger.Info("prune: partial directory still written to, kept", zap.String("dir", p.Path), zap.Time("last_write", last))
	return true
}

// gateOnNewest verifies the project's newest pack before anything is
// deleted: an error (ErrRefused, or the check could not run) means
// nothing may be deleted.
func gateOnNewest(ctx context.Context, packs []pack.Info, d Decision, o Options, res *Result) error {
	newest := newestCandidate(packs, completePacks(packs, o.Project), o.Project)
	if newest == nil {
		return nil
	}
	vr, verr := checkNewest(ctx, *newest, o)
	res.Newest = vr
	switch {
	case verr == nil:
		return nil
	case !errors.Is(verr, pack.ErrVerify):
		return fmt.Errorf("prune %s: checking the newest pack %s: %w", o.Target, newest.Name, verr)
	case o.Force:
		o.Logger.Warn("prune forced although the newest pack fails verification", zap.String("pack", newest.Path), zap.Error(verr))
		return nil
	}
	res.Refused, res.Blocked = true, d.Delete
	o.Logger.Warn("prune refused: the newest pack fails verification", zap.String("pack", newest.Path), zap.Error(verr))
	return fmt.Errorf("%w: %s deletes nothing: the newest pack %s fails verification, so the older packs may be the only good ones (check it with `dockpack verify`, or force the prune): %w",
		ErrRefused, o.Target, newest.Name, verr)
}
