package restore

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
)

// Live restores: RagFlowAuth's admin page restores a job's database into
// the live path (真实恢复当前数据). Unlike a drill this changes the running
// application, so Live is careful in this order (the job system around it
// checks the request, takes the backup lock and keeps the records):
//
//  1. the pack is read through its mount pin (a share that drops fails the
//     restore with mount_changed, never with a garbled read) and checked:
//     its manifest hash must still be the job's package_hash, its
//     structure must verify, and its database file is re-hashed against
//     the manifest (volumes and images, which are not restored, are not
//     re-hashed);
//  2. the containers that hold the database are found (StopList) and the
//     restore recorded by the caller (LiveSpec.Record) before anything
//     changes;
//  3. the containers are stopped;
//  4. the live database is kept beside itself as
//     <name>.before-restore-<UTC time>, a consistent snapshot including its
//     WAL (so the restore can be undone), then replaced atomically by
//     sqlitesnap.Restore, which refuses while the database is still in use
//     and removes stale -wal/-shm files;
//  5. the stopped containers are started again, whatever happened
//     (LiveSpec.Restarted hears of it).

// LiveEngine is what a live restore needs from the Docker Engine
// (*dockerapi.Client implements it; FindContainers too, see ContainerFinder).
type LiveEngine interface {
	ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error)
	StopContainers(ctx context.Context, ids []string, timeout time.Duration) (restart func() error, err error)
}

// LiveSpec describes one live restore.
type LiveSpec struct {
	// Pack is the pack directory; PackageHash the manifest hash (lowercase
	// hex) it must still have; JobID the job that wrote it (for messages).
	Pack        string
	PackageHash string
	JobID       int64
	// Live is the live database, replaced.
	Live string
	// Stop says which containers hold the live database.
	Stop   StopList
	Engine LiveEngine
	// Keys open a sealed pack (its identities; nil: none, a sealed pack is
	// refused before anything changes, naming IdentityHint).
	Keys *seal.Keys
	// IdentityHint says where the identity is configured ("the setting
	// age_identity_file"): added to the refusal of a sealed pack without one.
	IdentityHint string
	// StopTimeout is the grace of each stopped container. Default 30s.
	StopTimeout time.Duration
	// StagingDir is local scratch space. Default os.TempDir().
	StagingDir string
	// Owner names this process in the staging directories (sqlitesnap).
	Owner owner.Identity
	// Now is the clock of the kept copy's name. Default time.Now.
	Now func() time.Time
	// Lang is the language of the errors' messages. Default English.
	Lang   string
	Logger *zap.Logger
	// Hooks are seams for tests: BeforeStep (StepVerify before the check,
	// StepSQLite before the containers are stopped) and WrapReader (the
	// check's read of the pack's database).
	Hooks Hooks
	// Record is called once the pack passed its checks, with the containers
	// about to be stopped, before anything changes; an error refuses the
	// restore (nothing changed).
	Record func(ctx context.Context, c LiveChecked) error
	// Restarted, when set, is told whether the stopped containers run
	// again (err nil) once they were started again.
	Restarted func(err error)
}

// LiveChecked is what the checks found: the pack's manifest hash, its
// database file and that file's sha256, and the containers to stop.
type LiveChecked struct {
	PackageHash string
	DB          string // the database file in the pack
	DBSHA256    string
	Stop        []dockerapi.Container
}

// LiveResult is a live restore's outcome (as far as it got, on failure).
type LiveResult struct {
	LiveChecked
	// Kept is the replaced database, kept beside itself (and its sha256).
	Kept       string
	KeptSHA256 string
	// SHA256 is the live database's after the restore.
	SHA256 string
	// Restarted: the stopped containers run again.
	Restarted bool
}

func (s *LiveSpec) applyDefaults() {
	if s.StopTimeout == 0 {
		s.StopTimeout = 30 * time.Second
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if s.Record == nil {
		s.Record = func(context.Context, LiveChecked) error { return nil }
	}
}

// Live checks the pack and replaces the live database with its own (see
// the steps above). A refusal before anything changed, or a failure after,
// is a *LiveError; on failure the result says how far it got (the kept
// copy, whether the containers run again).
func Live(ctx context.Context, s LiveSpec) (LiveResult, error) {
	s.applyDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l := &liveRestorer{s: &s}
	pd, err := pack.OpenDir(ctx, s.Pack, cancel)
	if err != nil {
		return LiveResult{}, l.refuse(ctx, "restore_backup_package_not_found", false, err, "liverestore.pack_unreadable", s.Pack, err)
	}
	defer pd.Close()
	pd.SetKeys(s.Keys)
	l.pd = pd
	if err := l.hook(ctx, progress.StepVerify); err != nil {
		return LiveResult{}, err
	}
	chk, err := l.check(ctx)
	if err != nil {
		return LiveResult{}, err
	}
	if chk.Stop, err = containersToStop(ctx, l, s.Stop); err != nil {
		return LiveResult{}, err
	}
	if err := l.hook(ctx, progress.StepSQLite); err != nil {
		return LiveResult{}, err
	}
	if err := s.Record(ctx, chk); err != nil {
		return LiveResult{}, err
	}
	res := LiveResult{LiveChecked: chk}
	return res, l.replace(ctx, &res)
}

// liveRestorer carries one live restore.
type liveRestorer struct {
	s  *LiveSpec
	pd *pack.Dir // the pack, read through its pin
	m  *pack.Manifest
	fe pack.FileEntry // the database file
}

// hook runs the BeforeStep seam.
func (l *liveRestorer) hook(ctx context.Context, step progress.Step) error {
	if h := l.s.Hooks.BeforeStep; h != nil {
		if err := h(ctx, step); err != nil {
			return l.refuse(ctx, "restore_pack_verification_failed", false, err, "liverestore.pack_unreadable", l.s.Pack, err)
		}
	}
	return nil
}

// refuse is a LiveError in the spec's language. An error of a read the
// pack's pin canceled (the share dropped or was replaced) is mount_changed,
// whatever the step.
func (l *liveRestorer) refuse(ctx context.Context, code string, conflict bool, err error, key string, args ...any) *LiveError {
	if err != nil && ctx.Err() != nil && !errors.Is(err, context.Cause(ctx)) {
		err = context.Cause(ctx)
	}
	if errors.Is(err, mountcheck.ErrMountChanged) {
		return NewLiveError(l.s.Lang, "mount_changed", true, err, "liverestore.pack_unreadable", l.s.Pack, err)
	}
	return NewLiveError(l.s.Lang, code, conflict, err, key, args...)
}

// ErrLiveConflict: a live restore cannot run now (a backup holds the lock,
// the live database stays in use or is missing, the pack's share changed);
// nothing was changed.
var ErrLiveConflict = errors.New("restore_conflict")

// LiveError is a refused (or failed) live restore. Code is the stable
// machine code (RagFlowAuth's where it has one, e.g.
// "restore_confirmation_text_invalid"); Message says why, in the
// restore's language. It matches backup.ErrInvalidSpec (the request or the
// pack is at fault: HTTP 400) or, when Conflict, ErrLiveConflict (409).
type LiveError struct {
	Code     string
	Message  string
	Conflict bool
	Err      error // the underlying error, if any
}

// NewLiveError is a LiveError with its message (the catalogue's key with
// args) in lang.
func NewLiveError(lang, code string, conflict bool, err error, key string, args ...any) *LiveError {
	return &LiveError{Code: code, Message: i18n.T(lang, key, args...), Conflict: conflict, Err: err}
}

func (e *LiveError) Error() string { return e.Code + ": " + e.Message }

// Is makes a LiveError match backup.ErrInvalidSpec or ErrLiveConflict.
func (e *LiveError) Is(target error) bool {
	if e.Conflict {
		return target == ErrLiveConflict
	}
	return target == backup.ErrInvalidSpec
}

func (e *LiveError) Unwrap() error { return e.Err }
