package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
	"go.uber.org/zap"
)

// RestoreEngine is what Restore needs from the Docker Engine.
// *dockerapi.Client satisfies it; unit tests use fakes.
type Engine interface {
	LoadImages(ctx context.Context, r io.Reader) (dockerapi.LoadResult, error)
	ImageConfigDigest(ctx context.Context, ref string) (string, error)
	HelperImage(ctx context.Context) (ref string, remove func() error, err error)
	InspectVolume(ctx context.Context, name string) (dockerapi.Volume, error)
	CreateVolume(ctx context.Context, s dockerapi.VolumeSpec) error
	RemoveVolume(ctx context.Context, name string, force bool) error
	VolumeEmpty(ctx context.Context, name, helperImage string) (bool, error)
	ImportVolume(ctx context.Context, name, helperImage string, r io.Reader) error
	MarkVolumeIncomplete(ctx context.Context, volume, image, dir string) error
	VolumeIncompleteMarks(ctx context.Context, volume string) ([]string, error)
	ClearVolumeMarks(ctx context.Context, volume string) error
	StopContainers(ctx context.Context, ids []string, timeout time.Duration) (restart func() error, err error)
}

// LabelComposeConfigHash is dropped from volumes restored under a new
// project name.
const LabelComposeConfigHash = "com.docker.compose.config-hash"

// markerNamePrefix names dockerapi's incomplete-restore marker containers.
const markerNamePrefix = "dockpack-restore-marker-"

// RestoreSpec describes one restore.
type Spec struct {
	// Engine is the Docker Engine to restore into; required unless only the
	// db component is restored.
	Engine Engine
	// Project is the compose project to restore into. Default: the pack's.
	// Under another name, volume names <pack project>_<volume> become
	// <Project>_<volume>, their com.docker.compose.project label is
	// rewritten and com.docker.compose.config-hash dropped, so that
	// `docker compose -p <Project> up` adopts them; external volumes and
	// volumes with a custom name keep their names.
	Project string
	// Components to restore. Default (nil): what the pack holds, the db only
	// when SQLiteDest is set.
	Components []pack.Component
	// SQLiteDest is where the database snapshot is restored (atomically);
	// required for the db component. Never defaults to the backup's source.
	SQLiteDest string
	// Force replaces an existing non-empty volume, an existing database at
	// SQLiteDest, and tags that name other images now.
	Force bool
	// StopRunning stops the running containers that use a volume to be
	// restored, and starts them again afterwards (also on failure). Without
	// it such a volume is refused.
	StopRunning bool
	// SkipVerify skips the full Verify before the restore. Every file is
	// still checked while it streams: against its checksum, or (images
	// into an engine that checks layers) its configs and tags against the
	// manifest and each layer by the engine against its DiffID
	// (imagesGuard, pack.WriteImagesOptions.EngineChecksLayers).
	SkipVerify bool
	// PlanOnly computes what would happen and changes nothing.
	PlanOnly bool
	// Binds restores the pack's bind mounts (binds/) to the host paths
	// they were mounted from; BindsRoot, when set, restores them under it
	// instead (BindsRoot/<their path>). A destination that holds data is
	// refused unless Force.
	Binds     bool
	BindsRoot string
	// StagingDir is local scratch space (the SQLite snapshot is checked
	// there). Default os.TempDir().
	StagingDir string
	// Keys hold the age identities that open a sealed pack (--age-identity);
	// a sealed pack without a matching one is refused before anything
	// changes (seal.ErrNoIdentity, seal.ErrWrongIdentity).
	Keys *seal.Keys
	// StopTimeout is how long a stopping container gets. Default 30s.
	StopTimeout time.Duration
	// ProgressInterval is the least time between progress reports within a step. Default 500ms.
	ProgressInterval time.Duration
	// Lang is the language of the plan's notes, problems and reasons and of
	// the progress messages (i18n.English, i18n.Chinese). Default English.
	Lang string
	// Progress receives byte-level progress (steps verify, images, volumes, sqlite). May be nil.
	Progress progress.Func
	// Logger receives structured logs. Default zap.NewNop().
	Logger *zap.Logger
	// Hooks are seams for tests.
	Hooks Hooks
}

// RestoreHooks let tests intervene.
type Hooks struct {
	// BeforeStep runs before each step; an error aborts the restore.
	BeforeStep func(ctx context.Context, step progress.Step) error
	// WrapReader wraps the reader of each pack file streamed into the engine
	// or the database (item: volume name, images.tar, the db file).
	WrapReader func(step progress.Step, item string, r io.Reader) io.Reader
}

var projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func (s *Spec) applyDefaults() {
	if s.StagingDir == "" {
		s.StagingDir = os.TempDir()
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = 30 * time.Second
	}
	if s.ProgressInterval == 0 {
		s.ProgressInterval = 500 * time.Millisecond
	}
	if s.Lang == "" {
		s.Lang = i18n.English
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
	if s.SQLiteDest != "" {
		if abs, err := filepath.Abs(s.SQLiteDest); err == nil {
			s.SQLiteDest = abs
		}
	}
	if s.BindsRoot != "" {
		if abs, err := filepath.Abs(s.BindsRoot); err == nil {
			s.BindsRoot = abs
		}
	}
}

// Validate reports what is wrong with the spec on its own (the pack is
// checked by Restore).
func (s Spec) Validate() error {
	var errs []error
	if s.Project != "" && !projectNameRE.MatchString(s.Project) {
		errs = append(errs, fmt.Errorf("project %q is not a compose project name (lowercase letters, digits, '_' and '-', starting with a letter or digit)", s.Project))
	}
	for _, c := range s.Components {
		if !slices.Contains(pack.AllComponents, c) {
			errs = append(errs, fmt.Errorf("unknown component %q (want db, volumes or images)", c))
		}
	}
	if s.Components != nil && len(s.Components) == 0 {
		errs = append(errs, errors.New("no component selected (db, volumes, images)"))
	}
	if slices.Contains(s.Components, pack.ComponentDB) && s.SQLiteDest == "" {
		errs = append(errs, errors.New("the db component needs the path to restore the database to (--sqlite-dest); it never defaults to the live database"))
	}
	needEngine := s.Components == nil || slices.Contains(s.Components, pack.ComponentVolumes) || slices.Contains(s.Components, pack.ComponentImages)
	if needEngine && s.Engine == nil {
		errs = append(errs, errors.New("no Docker Engine client given"))
	}
	if s.StopTimeout < 0 || s.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("negative duration (stop timeout %s, progress interval %s)", s.StopTimeout, s.ProgressInterval))
	}
	if !i18n.Valid(s.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (one of %s)", s.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: restore: %w", backup.ErrInvalidSpec, errors.Join(errs...))
}
