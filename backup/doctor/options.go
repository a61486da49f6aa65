package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

// Engine is what Run needs from the Docker Engine: Info, ResolveStack and
// ImagesUniqueBytes (*dockerapi.Client satisfies it).
type Engine = precheck.Engine

// StateSource is where Run reads the lock and the recent jobs: a
// *jobs.Manager, a *jobs.StateReader (the state DB, read-only) or a client
// of a daemon's API (*httpapi.Client).
type StateSource interface {
	Lock(ctx context.Context) (jobs.LockInfo, error)
	List(ctx context.Context, o jobs.ListOptions) ([]jobs.Job, error)
}

// Options says what Run checks. Every input is optional: a check whose
// input is missing is reported as skipped, saying what to give.
type Options struct {
	// Engine is the Docker Engine; nil skips engine, data-root and stack.
	Engine Engine
	// EngineErr, with Engine nil, says why the engine could not be opened:
	// the engine check fails with it (data-root and stack are skipped).
	EngineErr error
	// Project is the compose project; "" skips the stack check.
	Project string
	// Target is the directory that receives packs; "" skips target and packs.
	Target string
	// Policy is what the target mount must satisfy (as for a backup).
	Policy mountcheck.Policy
	// S3 is the endpoint, region and credentials of an s3:// Target
	// (empty: the AWS variables and files).
	S3 s3.Options
	// StagingDir is the local scratch directory of SQLite snapshots. Default os.TempDir().
	StagingDir string
	// SQLitePath is the application's database; "" skips the sqlite check.
	SQLitePath string
	// Components the backups include (sizes the estimate). Default: volumes
	// and images, plus db when SQLitePath is set.
	Components []pack.Component
	// State is where the lock and jobs are read; nil skips lock and jobs.
	State StateSource
	// StateErr, with State nil, says why the state could not be opened (a
	// state DB that exists but cannot be read): lock and jobs fail with it.
	StateErr error
	// StateDesc says where State reads from (shown as evidence), e.g.
	// "state DB /var/lib/dockpack/state.db" or "daemon http://127.0.0.1:8420".
	// With State and StateErr nil it says what was looked for and not found.
	StateDesc string
	// Lang is the language of titles, summaries, labels and fixes ("en",
	// "zh-CN"); codes and evidence values are never translated. Default "en".
	Lang string
	// RootWarnFree and RootFailFree are the free-space thresholds of the root
	// filesystem. Defaults 5 GiB and 1 GiB.
	RootWarnFree uint64
	RootFailFree uint64
	// SpaceMargin multiplies the estimate for the target's free-space check. Default 1.1.
	SpaceMargin float64
	// PartialStaleAfter: a .partial-* pack directory older than this is a
	// leftover (warn). Default 1h.
	PartialStaleAfter time.Duration
	// Jobs is how many recent jobs are shown. Default 5.
	Jobs int
	// CheckTimeout bounds each check (a hung mount or engine). Default 30s.
	CheckTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// AgeIdentityFiles are the age identity files of the machine that runs
	// restores (doctor --age-identity, the daemon's age_identity_file): the
	// encryption check says whether they open the target's sealed packs.
	// Only their public keys are shown.
	AgeIdentityFiles []string
	// AgeRecipientsFiles are the recipients files the backups seal to (the
	// daemon's age_recipients_file), and RequireEncryption its
	// require_encryption: either makes plaintext packs in the target a
	// warning.
	AgeRecipientsFiles []string
	RequireEncryption  bool
}

func (o *Options) applyDefaults() {
	if o.StagingDir == "" {
		o.StagingDir = os.TempDir()
	}
	o.SQLitePath = fsutil.Abs(o.SQLitePath)
	if !storage.IsS3URL(o.Target) { // object storage is a URL, not a path
		o.Target = fsutil.Abs(o.Target)
	}
	if o.Components == nil {
		o.Components = []pack.Component{pack.ComponentVolumes, pack.ComponentImages}
		if o.SQLitePath != "" {
			o.Components = append([]pack.Component{pack.ComponentDB}, o.Components...)
		}
	}
	o.Lang, _ = i18n.Normalize(o.Lang)
	if o.RootWarnFree == 0 {
		o.RootWarnFree = 5 << 30
	}
	if o.RootFailFree == 0 {
		o.RootFailFree = 1 << 30
	}
	if o.SpaceMargin == 0 {
		o.SpaceMargin = 1.1
	}
	if o.PartialStaleAfter == 0 {
		o.PartialStaleAfter = time.Hour
	}
	if o.Jobs == 0 {
		o.Jobs = 5
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports what is wrong with the options (after defaults).
func (o Options) Validate() error {
	var errs []error
	if o.Lang != "" && !i18n.Valid(o.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (one of %s)", o.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	o.applyDefaults()
	for _, c := range o.Components {
		if !slices.Contains(pack.AllComponents, c) {
			errs = append(errs, fmt.Errorf("unknown component %q (want db, volumes or images)", c))
		}
	}
	if o.SpaceMargin < 1 {
		errs = append(errs, fmt.Errorf("space margin %.2f is below 1", o.SpaceMargin))
	}
	if o.RootFailFree > o.RootWarnFree {
		errs = append(errs, fmt.Errorf("root fail threshold %s is above the warn threshold %s",
			precheck.UBytes(o.RootFailFree), precheck.UBytes(o.RootWarnFree)))
	}
	if o.Jobs < 0 || o.PartialStaleAfter < 0 || o.CheckTimeout < 0 {
		errs = append(errs, errors.New("jobs, partial-stale-after and check timeout must not be negative"))
	}
	if err := o.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: doctor options: %w", backup.ErrInvalidSpec, errors.Join(errs...))
}
