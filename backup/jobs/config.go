package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
	"go.uber.org/zap"
)

// Config configures a Manager. Zero durations take the documented defaults.
type Config struct {
	// StateDir holds state.db (required; created 0700 if missing).
	StateDir string
	// Engine is the Docker Engine (required).
	Engine Engine
	// Settings are the initial values of settings not yet stored in the state
	// DB, and the values of the pinned ones. Start from DefaultSettings():
	// booleans are taken as given; a zero BackupRetentionMax or TargetMode
	// takes its default (30, "local").
	Settings settings.Settings
	// Pinned lists JSON names of settings fixed by configuration: their value
	// comes from Settings at every start and UpdateSettings refuses to change them.
	Pinned []string
	// Policy is what the target mount must satisfy (configuration, not UI-editable).
	Policy mountcheck.Policy
	// StagingDir is local scratch space for the SQLite snapshot. Default os.TempDir().
	StagingDir string
	// LeaseDuration is the lock lease; it is renewed every LeaseDuration/3. Default 30s.
	LeaseDuration time.Duration
	// StallTimeout fails a job whose step shows no progress for this long. Default 10m.
	StallTimeout time.Duration
	// ImagesFirstByteRate is the rate (bytes/s) assumed for the engine-side
	// staging of an image export: until the images step's first byte, the
	// allowance is StallTimeout + imagesEstimate/rate. Default 20 MiB/s.
	ImagesFirstByteRate int64
	// CancelGrace: a canceled (or stalled, or lease-lost) job is reported
	// ended within this, even if Run is still unwinding. Default 5s.
	CancelGrace time.Duration
	// PersistInterval is the least time between progress writes to the state DB. Default 1s.
	PersistInterval time.Duration
	// EventsPerJob is how many log lines are kept per job. Default 200.
	EventsPerJob int
	// Location is the time zone of the schedules. Default time.Local.
	Location *time.Location
	// WaitOnClose makes Close wait for the running job instead of canceling it.
	WaitOnClose bool
	// DisableScheduler turns the schedules off (tests, one-shot use).
	DisableScheduler bool
	// Logger receives structured logs. Default zap.NewNop().
	Logger *zap.Logger
	// Lang is the language of job messages and log lines: "en" (default)
	// or "zh-CN". Machine codes (error_code, detail codes) never change.
	Lang string
	// Hooks are merged into each job's Spec (tests: seams between steps);
	// BeforeStep also runs, with StepVerify, before a restore drill verifies its pack.
	Hooks backup.Hooks
	// Run runs one backup. Default Run.
	Run func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error)
	// OnJobEnd is called once per finished job (by the process that wrote its
	// final state: a recovered job's by the recovering process); it must not block.
	OnJobEnd func(Job)

	// Identity seams (tests). Defaults: os.Hostname, os.Getpid, ProcStartOf(PID), ProcAlive.
	Host      string
	PID       int
	ProcStart string
	ProcAlive func(pid int, procStart string) bool
	// Now is the clock for stored times and lease expiry. Default time.Now.
	Now func() time.Time

	// BusyTimeout is how long a state-DB statement waits for another writer. Default 5s.
	BusyTimeout time.Duration
	// PartialMaxAge: retention removes partial pack directories older than this
	// (left by crashes the recovery could not attribute). Default 24h.
	PartialMaxAge time.Duration
	// AbandonAfter: when Run ignores cancellation this long, the job's lease
	// is released and its goroutine abandoned (logged), so the lock never
	// wedges. Default 5m.
	AbandonAfter time.Duration
	// RecoveryTimeout bounds one recovery pass (partial dirs, container starts). Default 2m.
	RecoveryTimeout time.Duration
	// StatTimeout bounds reading the target directory for derived statistics
	// and partial-directory bookkeeping (a hung mount must not hang a GET). Default 3s.
	StatTimeout time.Duration
	// PoolSize is the number of state-DB connections. Default 8.
	PoolSize int
	// DrillDir is where restore drills restore the SQLite snapshot, in a
	// subfolder named after the drill's restore_target (never the live
	// database). Default <StateDir>/restore-drills.
	DrillDir string
}

func (c *Config) applyDefaults() {
	c.Lang = cmp.Or(c.Lang, i18n.English)
	c.StagingDir = cmp.Or(c.StagingDir, os.TempDir())
	c.LeaseDuration = cmp.Or(c.LeaseDuration, 30*time.Second)
	c.StallTimeout = cmp.Or(c.StallTimeout, 10*time.Minute)
	c.ImagesFirstByteRate = cmp.Or(c.ImagesFirstByteRate, 20<<20)
	c.CancelGrace = cmp.Or(c.CancelGrace, 5*time.Second)
	c.PersistInterval = cmp.Or(c.PersistInterval, time.Second)
	c.EventsPerJob = cmp.Or(c.EventsPerJob, 200)
	c.BusyTimeout = cmp.Or(c.BusyTimeout, 5*time.Second)
	c.PartialMaxAge = cmp.Or(c.PartialMaxAge, 24*time.Hour)
	c.AbandonAfter = cmp.Or(c.AbandonAfter, 5*time.Minute)
	c.RecoveryTimeout = cmp.Or(c.RecoveryTimeout, 2*time.Minute)
	c.StatTimeout = cmp.Or(c.StatTimeout, 3*time.Second)
	c.PoolSize = cmp.Or(c.PoolSize, 8)
	c.PID = cmp.Or(c.PID, os.Getpid())
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Run == nil {
		c.Run = backup.Run
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.ProcStart == "" && c.PID == os.Getpid() {
		c.ProcStart = owner.ProcStartOf(c.PID)
	}
	if c.ProcAlive == nil {
		c.ProcAlive = owner.ProcAlive
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DrillDir == "" && c.StateDir != "" {
		c.DrillDir = filepath.Join(c.StateDir, "restore-drills")
	}
	c.Settings.ApplyDefaults()
}

// Validate reports what is wrong with the configuration (after defaults).
func (c Config) Validate() error {
	c.applyDefaults()
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("no state dir given: the directory that holds state.db"))
	}
	if c.Engine == nil {
		errs = append(errs, errors.New("no Docker Engine client given"))
	}
	if !i18n.Valid(c.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (want one of %s)", c.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	for name, d := range map[string]time.Duration{
		"lease duration": c.LeaseDuration, "stall timeout": c.StallTimeout, "cancel grace": c.CancelGrace,
		"persist interval": c.PersistInterval, "busy timeout": c.BusyTimeout, "partial max age": c.PartialMaxAge,
		"abandon-after": c.AbandonAfter, "recovery timeout": c.RecoveryTimeout, "stat timeout": c.StatTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", name, d))
		}
	}
	if c.LeaseDuration > 0 && c.LeaseDuration < 30*time.Millisecond {
		errs = append(errs, fmt.Errorf("lease duration %s is too short to be renewed (at least 30ms; default 30s)", c.LeaseDuration))
	}
	if c.ImagesFirstByteRate < 0 {
		errs = append(errs, fmt.Errorf("images first-byte rate %d B/s is negative", c.ImagesFirstByteRate))
	}
	if c.EventsPerJob < 1 {
		errs = append(errs, fmt.Errorf("events per job %d: keep at least 1", c.EventsPerJob))
	}
	if c.PoolSize < 2 {
		errs = append(errs, fmt.Errorf("state DB pool size %d: at least 2", c.PoolSize))
	}
	for _, p := range c.Pinned {
		if !slices.Contains(settings.Editable(), p) {
			errs = append(errs, fmt.Errorf("pinned setting %q is not an editable setting (one of %v)", p, settings.Editable()))
		}
	}
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("initial settings: %w", err))
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: manager configuration: %w", backup.ErrInvalidSpec, errors.Join(errs...))
}
