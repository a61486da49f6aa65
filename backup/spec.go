package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
)

// Spec describes one backup.
type Spec struct {
	// Engine is the Docker Engine to back up from (required).
	Engine Engine
	// Project is the compose project name (label com.docker.compose.project).
	Project string
	// Target is the directory on the verified mount that receives packs,
	// or object storage written s3://bucket/prefix (storage.ParseTarget).
	Target string
	// S3 is the endpoint, region, credentials and tuning of an s3://
	// Target (Bucket and Prefix come from the URL); what is empty comes
	// from the standard AWS variables and files.
	S3 s3.Options
	// Policy is what the target mount must satisfy (mountcheck.Policy defaults:
	// a cifs/smb3 share, not the root filesystem).
	Policy mountcheck.Policy
	// SQLitePath is the application's SQLite database; required when the db
	// component is selected.
	SQLitePath string
	// Components to back up. Default (nil): volumes and images, plus db when
	// SQLitePath is set. An empty non-nil list is an error.
	Components []pack.Component
	// StopServices are compose services stopped around the volume step (and
	// only around it) so their volumes are consistent.
	StopServices []string
	// StopAllServices stops every running container of the project around
	// the volume step (RagFlowAuth's ragflow_stop_services).
	StopAllServices bool
	// StopApps are services stopped around the volume step together with
	// every service that depends on them (compose depends_on). All the
	// services stopped stop dependents first and start in reverse.
	StopApps []string
	// Strict refuses a pack that leaves out any mount: a bind mount not
	// captured, an anonymous volume (a named volume of the compose model
	// neither in the pack, nor covered by a dump, nor excluded is always
	// refused).
	Strict bool
	// BindLimit bounds the content of a bind mount captured into the pack
	// (binds/); a larger one is left out with a warning. Default 64 MiB.
	BindLimit int64
	// StagingDir is local scratch space for the SQLite snapshot. Default os.TempDir().
	StagingDir string
	// StopTimeout is how long a stopping container gets before it is killed. Default 30s.
	StopTimeout time.Duration
	// SQLiteBusyTimeout bounds the wait for a database locked by a writer. Default 30s.
	SQLiteBusyTimeout time.Duration
	// SpaceMargin multiplies the size estimate for the target free-space check. Default 1.1.
	SpaceMargin float64
	// PinCheckBytes is how often (in bytes written) the mount pin is re-checked. Default 64 MiB.
	PinCheckBytes int64
	// PinCheckInterval is how often the mount pin is re-checked on a timer
	// while the backup runs, also while nothing is written (an engine
	// staging an image export sends nothing for minutes). Default 2s.
	PinCheckInterval time.Duration
	// PackMode is the mode of the pack's files; its directories get the
	// same read bits plus search. Default 0600 (a pack holds the
	// application's credentials); 0640 or 0644 widen it. On CIFS the mount
	// options decide the effective modes.
	PackMode os.FileMode
	// Format is the pack format: FormatClassic (default: every file in
	// full) or FormatStore (files as chunks in the target's pack store,
	// only what the store lacks is written).
	Format string
	// StoreLockWait is how long a store backup waits for the store's lease
	// while a prune holds it (0: refused at once, naming the holder).
	StoreLockWait time.Duration
	// Seal, when it has recipients, seals every pack file that holds
	// content with age while it streams (docs/encryption.md): a classic
	// pack's files, or a store pack's blobs (an encrypted store: blob ids
	// keyed by the store's naming key, each blob sealed).
	Seal *seal.Keys
	// NamingKeyFile is the encrypted store's naming key file on this host
	// (0600; --age-naming-key): read to write to an encrypted store,
	// created with a new one. NamingKeyDir, when NamingKeyFile is empty,
	// holds one key file per store (the daemon's state dir). A sealed
	// store backup needs one of them.
	NamingKeyFile string
	NamingKeyDir  string
	// RequireEncryption names what demands encryption ("--require-encryption",
	// a setting); a run without recipients is then refused before anything
	// is written (seal.ErrPlaintextRefused). Empty: not required.
	RequireEncryption string
	// NoRecover skips the recovery that runs after the precheck: removing
	// what dead writers left (Recover).
	NoRecover bool
	// Owner identifies this backup's writer on what it creates (the partial
	// pack's name and owner record, helper labels, the staged database), so
	// that recovery can tell a dead writer's debris. Default: this process
	// with a fresh token.
	Owner owner.Identity
	// ProgressInterval is the minimum time between progress reports within a step. Default 500ms.
	ProgressInterval time.Duration
	// Lang is the language of progress messages: "en" (default) or
	// "zh-CN". Machine codes (ErrorCode, steps) never change with it.
	Lang string
	// Logger receives structured logs. Default zap.NewNop().
	Logger *zap.Logger
	// Hooks are seams for the job manager and for tests.
	Hooks Hooks
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Hooks lets a caller observe and intervene between steps.
type Hooks struct {
	// BeforeStep runs before each step; an error aborts the backup.
	BeforeStep func(ctx context.Context, step progress.Step) error
	// BeforeStop runs before containers are stopped for consistency, so a
	// caller can record them durably (a crash must not leave them stopped).
	BeforeStop func(ctx context.Context, containers []dockerapi.Container) error
	// BeforeRestart runs before the containers stopped for the volume step
	// are started again; an error skips the restart (the job manager refuses
	// when another process took over the backup lock: the new owner's recovery
	// restarted them already and may have stopped them again for its own copy).
	BeforeRestart func(ctx context.Context, containers []dockerapi.Container) error
	// AfterRestart runs after those containers were started again (err is the restart's result).
	AfterRestart func(ctx context.Context, containers []dockerapi.Container, err error)
	// WrapWriter wraps the writer of each streamed file (tests: throttling, faults).
	WrapWriter func(step progress.Step, item string, w io.Writer) io.Writer
	// BeforePartial runs before the partial pack directory is created, with
	// its path (the job manager records it, so recovery can remove it).
	BeforePartial func(ctx context.Context, partial string) error
	// BeforeCommit runs before the complete pack is renamed to its final
	// name (the job manager records the name and package hash first, so a
	// crash right after the rename still finds the job's pack).
	BeforeCommit func(ctx context.Context, pack, packageHash string) error
	// AfterCommit runs right after the pack got its final name, before Run
	// returns (tests: a crash at that instant).
	AfterCommit func(ctx context.Context, pack string)
	// AdjustEstimate may change the estimate used by the space checks (tests).
	AdjustEstimate func(e Estimate) Estimate
}

// ErrInvalidSpec marks a Spec that cannot be run as given (a usage error).
var ErrInvalidSpec = sentinel.ErrInvalidSpec

func (s *Spec) applyDefaults() {
	if s.StagingDir == "" {
		s.StagingDir = os.TempDir()
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = 30 * time.Second
	}
	if s.SQLiteBusyTimeout == 0 {
		s.SQLiteBusyTimeout = 30 * time.Second
	}
	if s.SpaceMargin == 0 {
		s.SpaceMargin = 1.1
	}
	if s.PinCheckBytes == 0 {
		s.PinCheckBytes = 64 << 20
	}
	if s.PinCheckInterval == 0 {
		s.PinCheckInterval = 2 * time.Second
	}
	if s.Format == "" {
		s.Format = FormatClassic
	}
	if s.PackMode == 0 {
		s.PackMode = pack.DefaultMode
	}
	if s.Owner.Token == "" {
		s.Owner = owner.Self("")
	}
	if s.ProgressInterval == 0 {
		s.ProgressInterval = 500 * time.Millisecond
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Lang == "" {
		s.Lang = i18n.English
	}
	if s.Components == nil {
		s.Components = []pack.Component{pack.ComponentVolumes, pack.ComponentImages}
		if s.SQLitePath != "" {
			s.Components = append([]pack.Component{pack.ComponentDB}, s.Components...)
		}
	}
	if !storage.IsS3URL(s.Target) {
		s.Target = fsutil.Abs(s.Target)
	}
	s.SQLitePath = fsutil.Abs(s.SQLitePath)
}

// Validate reports what is wrong with the spec (with its defaults applied), wrapping ErrInvalidSpec.
func (s Spec) Validate() error {
	s.applyDefaults()
	var errs []error
	if s.Engine == nil {
		errs = append(errs, errors.New("no Docker Engine client given"))
	}
	if strings.TrimSpace(s.Project) == "" {
		errs = append(errs, errors.New("no compose project given (--project): it is the value of the label com.docker.compose.project"))
	}
	if s.Target == "" {
		errs = append(errs, errors.New("no target directory given (--target): the directory on the mounted share that receives packs"))
	}
	if storage.IsS3URL(s.Target) {
		if _, err := storage.ParseTarget(s.Target); err != nil {
			errs = append(errs, err)
		}
	}
	if len(s.Components) == 0 {
		errs = append(errs, errors.New("no component selected (db, volumes, images)"))
	}
	for _, c := range s.Components {
		if !slices.Contains(pack.AllComponents, c) {
			errs = append(errs, fmt.Errorf("unknown component %q (want db, volumes or images)", c))
		}
	}
	if s.Has(pack.ComponentDB) && s.SQLitePath == "" {
		errs = append(errs, errors.New("the db component needs the SQLite database path (--sqlite)"))
	}
	if s.BindLimit < 0 {
		errs = append(errs, fmt.Errorf("bind mount size bound %d is negative", s.BindLimit))
	}
	if (len(s.StopServices) > 0 || len(s.StopApps) > 0 || s.StopAllServices) && !s.Has(pack.ComponentVolumes) {
		errs = append(errs, errors.New("services to stop were given, but the volumes component is not selected: they would be stopped for nothing"))
	}
	if !validFormat(s.Format) {
		errs = append(errs, fmt.Errorf("pack format %q: use %s (default) or %s", s.Format, FormatClassic, FormatStore))
	}
	if !pack.ValidMode(s.PackMode) {
		errs = append(errs, fmt.Errorf("pack mode %04o: use %s (default), %s or %s", s.PackMode, pack.Modes[0], pack.Modes[1], pack.Modes[2]))
	}
	if s.SpaceMargin < 1 {
		errs = append(errs, fmt.Errorf("space margin %.2f is below 1", s.SpaceMargin))
	}
	if !i18n.Valid(s.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (want one of %s)", s.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	if err := s.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidSpec, errors.Join(errs...))
}

// Has reports whether component c is selected.
func (s Spec) Has(c pack.Component) bool { return slices.Contains(s.Components, c) }
