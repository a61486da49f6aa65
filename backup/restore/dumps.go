package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/i18n"
)

// DumpsEngine is what RunDumps needs from the Docker Engine
// (*dockerapi.Client satisfies it).
type DumpsEngine interface {
	ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error)
	Exec(ctx context.Context, o dockerapi.ExecOptions) (dockerapi.ExecResult, error)
	ContainerState(ctx context.Context, id string) (dockerapi.Container, error)
	StartContainers(ctx context.Context, ids []string) error
}

// DumpsSpec describes loading a pack's dumps into the running services
// (dockpack restore PACK --dumps), after the pack was restored and the
// stack started.
type DumpsSpec struct {
	Engine DumpsEngine
	// Project is the compose project whose services receive the dumps.
	// Default: the pack's.
	Project string
	// Services limits the dumps loaded (default: every dump of the pack).
	Services []string
	// StartTimeout bounds the wait for a service whose restore command
	// stops it (redis, valkey) to run again after dockpack starts it. Default 2m.
	StartTimeout time.Duration
	Lang         string
	Logger       *zap.Logger
	Progress     progress.Func
	// Keys open a sealed pack's dumps (--age-identity).
	Keys *seal.Keys
}

func (s *DumpsSpec) applyDefaults() {
	if s.StartTimeout == 0 {
		s.StartTimeout = 2 * time.Minute
	}
	if s.Lang == "" {
		s.Lang = i18n.English
	}
	if s.Logger == nil {
		s.Logger = zap.NewNop()
	}
}

// Validate reports what is wrong with the spec on its own.
func (s DumpsSpec) Validate() error {
	var errs []error
	if s.Engine == nil {
		errs = append(errs, errors.New("no Docker Engine client given"))
	}
	if s.Project != "" && !projectNameRE.MatchString(s.Project) {
		errs = append(errs, fmt.Errorf("project %q is not a compose project name", s.Project))
	}
	if !i18n.Valid(s.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (one of %s)", s.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: restore --dumps: %w", backup.ErrInvalidSpec, errors.Join(errs...))
}

// DumpsResult says which dumps were loaded where.
type DumpsResult struct {
	Pack        string       `json:"pack"`
	PackageHash string       `json:"package_hash"`
	Project     string       `json:"project"`
	Loaded      []LoadedDump `json:"loaded"`
	Messages    []string     `json:"messages"` // what was done, in the spec's language
}

// LoadedDump is one dump piped into its service.
type LoadedDump struct {
	Service    string   `json:"service"`
	Container  string   `json:"container"`
	File       string   `json:"file"`
	Command    []string `json:"command"`
	Bytes      int64    `json:"bytes"`
	ExitCode   int      `json:"exit_code"`
	DurationMS int64    `json:"duration_ms"`
	StdoutTail string   `json:"stdout_tail"`
	StderrTail string   `json:"stderr_tail"`
	// Restarted: the restore command stopped the service (to load the
	// dump when it starts) and dockpack started it again.
	Restarted bool `json:"restarted"`
}

// dumpTarget is a dump of the pack and the running container it goes to.
type dumpTarget struct {
	service string
	dump    pack.DumpEntry
	ct      dockerapi.Container
}

// RunDumps pipes each dump of the pack into an exec of the restore command
// recorded with it (dockpack.restore-dump) in the service's running
// container. Every dump's file is checked against the manifest before its
// command runs (the command consumes what it reads). It refuses, before
// running anything, when a service has no running container or the pack
// records no restore command for it (a *RefusedError). A restore command
// that stops its service to load the dump (redis, valkey) gets the
// container started again.
func RunDumps(ctx context.Context, dir string, spec DumpsSpec) (*DumpsResult, error) {
	spec.applyDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	t := i18n.For(spec.Lang)
	log := spec.Logger.With(zap.String("pack", dir))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pd, err := pack.OpenDir(ctx, dir, cancel)
	if err != nil {
		return nil, &StepError{Step: progress.StepVerify, Err: fmt.Errorf("open the pack: %w", err)}
	}
	defer pd.Close()
	m, hash, err := pack.ReadManifest(ctx, dir)
	if err != nil {
		return nil, &StepError{Step: progress.StepVerify, Err: err}
	}
	pd.SetKeys(spec.Keys)
	if err := pd.CheckKeys(m); err != nil { // a sealed pack without its identity: nothing loaded
		return nil, fmt.Errorf("%w; nothing was loaded", err)
	}
	res := &DumpsResult{Pack: dir, PackageHash: hash, Project: spec.Project, Loaded: []LoadedDump{}, Messages: []string{}}
	if res.Project == "" {
		res.Project = m.Project
	}
	targets, problems, err := planDumps(ctx, m, res.Project, spec, t)
	if err != nil {
		return res, err
	}
	if len(problems) > 0 {
		return res, &RefusedError{Pack: dir, Problems: problems, Lang: spec.Lang}
	}
	trk := progress.NewTracker(spec.Progress, time.Now, 500*time.Millisecond)
	for _, tg := range targets {
		fe, _ := m.File(tg.dump.File)
		if err := checkDumpFile(ctx, pd, m, fe); err != nil {
			return res, &StepError{Step: progress.StepVerify, Item: fe.Path, Err: err}
		}
		trk.AddTotal(fe.Size)
	}
	for _, tg := range targets {
		ld, err := loadDump(ctx, pd, m, tg, spec, trk, t)
		if err != nil {
			log.Error("dump not loaded", zap.String("service", tg.service), zap.Error(err))
			return res, &StepError{Step: progress.StepVolumes, Item: tg.service, Err: err}
		}
		res.Loaded = append(res.Loaded, ld)
		res.Messages = append(res.Messages, t.T("restore.dumps.done", ld.File, ld.Container, units.BytesSize(float64(ld.Bytes)), ld.ExitCode))
		if ld.Restarted {
			res.Messages = append(res.Messages, t.T("restore.dumps.restarted", ld.Container))
		}
		log.Info("dump loaded", zap.String("service", ld.Service), zap.String("container", ld.Container), zap.Int64("bytes", ld.Bytes),
			zap.Int("exit_code", ld.ExitCode), zap.Bool("restarted", ld.Restarted))
	}
	return res, nil
}

// planDumps pairs each dump with its service's running container; the
// problems refuse the whole run.
func planDumps(ctx context.Context, m *pack.Manifest, project string, spec DumpsSpec, t i18n.Printer) ([]dumpTarget, []string, error) {
	var dumps []dumpTarget
	if m.Consistency != nil {
		for _, s := range m.Consistency.Services {
			if s.Dump != nil && (len(spec.Services) == 0 || slices.Contains(spec.Services, s.Name)) {
				dumps = append(dumps, dumpTarget{service: s.Name, dump: *s.Dump})
			}
		}
	}
	if len(dumps) == 0 {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoDumps, t.T("restore.dumps.none", m.Project))
	}
	st, err := spec.Engine.ResolveStack(ctx, project)
	if err != nil && !errors.Is(err, dockerapi.ErrProjectNotFound) {
		return nil, nil, err
	}
	var problems []string
	for i := range dumps {
		d := &dumps[i]
		if len(d.dump.RestoreCommand) == 0 {
			problems = append(problems, t.T("restore.dumps.no_command", d.service, d.dump.File))
			continue
		}
		found := false
		for _, ct := range st.Containers {
			if ct.Service == d.service && ct.Running {
				d.ct, found = ct, true
				break
			}
		}
		if !found {
			problems = append(problems, t.T("restore.dumps.not_running", d.service, project))
		}
	}
	return dumps, problems, nil
}

// ErrNoDumps: the pack holds no dump (for the services asked).
var ErrNoDumps = errors.New("no dump to load")

// checkDumpFile reads a dump whole and compares it with the manifest: a
// classic pack's file, or a store pack's file streamed from its chunks.
func checkDumpFile(ctx context.Context, pd *pack.Dir, m *pack.Manifest, fe pack.FileEntry) error {
	f, err := pd.OpenFile(ctx, m, fe)
	if err != nil {
		return err
	}
	defer f.Close()
	hw := fsutil.NewHashWriter(nil)
	if _, err := io.Copy(hw, fsutil.ContextReader(ctx, f)); err != nil {
		if errors.Is(err, pack.ErrSealedChanged) || errors.Is(err, seal.ErrDamaged) {
			return fmt.Errorf("%w: %w", ErrPackChanged, err)
		}
		return err
	}
	if m.Sealed() { // the sealed file's reader checked its ciphertext to the end
		return nil
	}
	if hw.N() != fe.Size || hw.Sum() != fe.SHA256 {
		return fmt.Errorf("%w: %s: expected size %d and sha256 %s, actual %d and %s", ErrPackChanged, fe.Path, fe.Size, fe.SHA256, hw.N(), hw.Sum())
	}
	return nil
}

// loadDump runs the restore command with the dump on stdin.
func loadDump(ctx context.Context, pd *pack.Dir, m *pack.Manifest, tg dumpTarget, spec DumpsSpec, trk *progress.Tracker, t i18n.Printer) (LoadedDump, error) {
	fe, _ := m.File(tg.dump.File)
	ld := LoadedDump{Service: tg.service, Container: tg.ct.Name, File: fe.Path, Command: tg.dump.RestoreCommand, ExitCode: -1}
	trk.Begin(progress.StepVolumes, fe.Path, fe.Size, t.T("restore.progress.dump", fe.Path, tg.ct.Name))
	f, err := pd.OpenFile(ctx, m, fe)
	if err != nil {
		return ld, err
	}
	defer f.Close()
	in := newCheckedReader(fsutil.ContextReader(ctx, f), trk.Writer(io.Discard), fe, m.Sealed())
	res, err := spec.Engine.Exec(ctx, dockerapi.ExecOptions{Container: tg.ct.ID, Cmd: tg.dump.RestoreCommand, Stdin: in})
	ld.ExitCode, ld.DurationMS, ld.StdoutTail, ld.StderrTail, ld.Bytes = res.ExitCode, res.Duration.Milliseconds(), res.StdoutTail, res.StderrTail, in.N()
	if err != nil {
		return ld, fmt.Errorf("service %s: %s in %s: %w", tg.service, strings.Join(tg.dump.RestoreCommand, " "), tg.ct.Name, err)
	}
	if tg.dump.RestoreStops {
		if started, err := startAgain(ctx, spec, tg.ct); err != nil || started {
			ld.Restarted = started
			return ld, err
		}
	}
	if res.ExitCode != 0 {
		return ld, fmt.Errorf("service %s: %s in %s exited with %d: %s", tg.service, strings.Join(tg.dump.RestoreCommand, " "), tg.ct.Name, res.ExitCode,
			strings.TrimSpace(res.StderrTail))
	}
	return ld, nil
}

// startAgain starts a container its restore command stopped and waits
// until it runs; started is false when it still ran.
func startAgain(ctx context.Context, spec DumpsSpec, ct dockerapi.Container) (started bool, err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := spec.Engine.ContainerState(ctx, ct.ID)
		if err != nil {
			return false, err
		}
		if !st.Running {
			break
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := spec.Engine.StartContainers(ctx, []string{ct.ID}); err != nil {
		return true, err
	}
	for deadline := time.Now().Add(spec.StartTimeout); ; {
		st, err := spec.Engine.ContainerState(ctx, ct.ID)
		if err == nil && st.Running {
			return true, nil
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("%s did not run again within %s after its dump was loaded", ct.Name, spec.StartTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
