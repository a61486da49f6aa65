package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/consistency"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/nonnil"
)

// ExecEngine runs commands in running containers: the services' hooks and
// dumps. *dockerapi.Client satisfies it; a backup whose stack has hooks or
// dumps needs an Engine that does.
type ExecEngine interface {
	Exec(ctx context.Context, o dockerapi.ExecOptions) (dockerapi.ExecResult, error)
}

// Errors of hooks and dumps.
var (
	// ErrHookFailed: a hook with on-error fail exited non-zero, timed out or could not run.
	ErrHookFailed = errors.New("hook failed")
	// ErrDumpFailed: a service's dump exited non-zero, wrote nothing or could not run.
	ErrDumpFailed = errors.New("dump failed")
)

// newConsistency starts the manifest's consistency section from the plan.
func (r *runner) newConsistency() *pack.Consistency {
	cp := r.plan.Consistency
	if cp == nil {
		return nil
	}
	c := &pack.Consistency{ComposeFiles: nonnil.Slice(cp.ComposeFiles), ModelNote: cp.ModelNote, Profiles: nonnil.Slice(cp.Profiles),
		StopOrder: []string{}, Services: []pack.ServiceEntry{}, Binds: []pack.BindEntry{}}
	stopped := map[string]bool{}
	for _, ct := range r.plan.Stop {
		c.StopOrder = append(c.StopOrder, ct.Name)
		stopped[ct.Service] = true
	}
	for _, s := range cp.Services {
		e := pack.ServiceEntry{Name: s.Name, Containers: []string{}, Profiles: s.Profiles, DependsOn: s.DependsOn, Preset: s.Config.Preset,
			Stopped: stopped[s.Name], Volumes: []pack.ServiceVolume{}, Hooks: []pack.HookRun{}}
		for _, ct := range s.Containers {
			e.Containers = append(e.Containers, ct.Name)
		}
		for _, v := range cp.Volumes {
			if v.Service != s.Name {
				continue
			}
			sv := pack.ServiceVolume{Name: v.Name, Key: v.Key, Destination: v.Destination, Capture: v.Capture, Reason: v.Reason}
			switch v.Capture {
			case pack.CaptureVolume:
				sv.File = pack.VolumesDir + "/" + v.Name + ".tar"
			case pack.CaptureDump:
				sv.File = s.Config.DumpFile()
			}
			e.Volumes = append(e.Volumes, sv)
		}
		c.Services = append(c.Services, e)
	}
	return c
}

// service returns the manifest entry of a service.
func (r *runner) serviceEntry(name string) *pack.ServiceEntry {
	if r.man.Consistency == nil {
		return nil
	}
	for i := range r.man.Consistency.Services {
		if r.man.Consistency.Services[i].Name == name {
			return &r.man.Consistency.Services[i]
		}
	}
	return nil
}

// execEngine is the engine's ExecEngine, or an error saying the engine cannot run hooks.
func (r *runner) execEngine() (ExecEngine, error) {
	if e, ok := r.spec.Engine.(ExecEngine); ok {
		return e, nil
	}
	return nil, errors.New("the stack has hooks or dumps, but this engine client cannot run commands in containers")
}

// hookOrder lists the services with a hook of the phase: dependents first
// for pre-backup (an application pauses before its database), the reverse
// for post-backup.
func (r *runner) hookOrder(phase string) []consistency.ServicePlan {
	cp := r.plan.Consistency
	if cp == nil {
		return nil
	}
	var names []string
	for _, s := range cp.Services {
		if (phase == pack.PhasePreBackup && len(s.Config.Pre) > 0) || (phase == pack.PhasePostBackup && len(s.Config.Post) > 0) {
			names = append(names, s.Name)
		}
	}
	names = cp.Graph.StopOrder(names)
	if phase == pack.PhasePostBackup {
		slices.Reverse(names)
	}
	out := make([]consistency.ServicePlan, 0, len(names))
	for _, n := range names {
		s, _ := cp.Service(n)
		out = append(out, s)
	}
	return out
}

// runHooks runs the hooks of a phase in each running container of their
// services. A hook with on-error fail that fails ends the pre-backup phase
// with ErrHookFailed; post-backup hooks all run, and their first such
// failure is returned.
func (r *runner) runHooks(ctx context.Context, phase string) error {
	services := r.hookOrder(phase)
	if len(services) == 0 {
		return nil
	}
	eng, err := r.execEngine()
	if err != nil {
		return err
	}
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Name
	}
	key := "job.hooks.pre"
	if phase == pack.PhasePostBackup {
		key = "job.hooks.post"
	}
	r.trk.Message(r.t(key, strings.Join(names, ", ")), true)
	var failed error
	for _, s := range services {
		cmd := s.Config.Pre
		if phase == pack.PhasePostBackup {
			cmd = s.Config.Post
		}
		for _, ct := range s.Containers {
			if err := r.hook(ctx, eng, s, ct, phase, cmd); err != nil && failed == nil {
				failed = err
				if phase == pack.PhasePreBackup {
					return failed
				}
			}
		}
	}
	return failed
}

// hook runs one hook in one container and records it (manifest, log).
func (r *runner) hook(ctx context.Context, eng ExecEngine, s consistency.ServicePlan, ct dockerapi.Container, phase string, cmd []string) error {
	cfg := s.Config
	run := pack.HookRun{Phase: phase, Container: ct.Name, Command: slices.Clone(cmd), OnError: cfg.OnError,
		TimeoutMS: cfg.HookTimeout.Milliseconds(), StartedAt: time.Now().UTC().Format(time.RFC3339Nano), ExitCode: -1}
	var res dockerapi.ExecResult
	var err error
	if !ct.Running && phase == pack.PhasePreBackup {
		err = dockerapi.ErrContainerNotRunning
	} else {
		// A post hook runs also after a cancel: on its own bounded context.
		hctx := ctx
		if phase == pack.PhasePostBackup {
			hctx = context.WithoutCancel(ctx)
		}
		res, err = eng.Exec(hctx, dockerapi.ExecOptions{Container: ct.ID, Cmd: cmd, Timeout: cfg.HookTimeout})
	}
	run.ExitCode, run.DurationMS, run.StdoutTail, run.StderrTail, run.KillNote = res.ExitCode, res.Duration.Milliseconds(), res.StdoutTail, res.StderrTail, res.KillNote
	var failure error
	switch {
	case errors.Is(err, dockerapi.ErrContainerNotRunning):
		run.Status = pack.HookSkipped
	case res.TimedOut:
		run.Status = pack.HookTimedOut
		failure = fmt.Errorf("service %s: %s hook %s in %s was killed at its timeout (%s)", s.Name, phase, strings.Join(cmd, " "), ct.Name, cfg.HookTimeout)
	case err != nil:
		run.Status = pack.HookFailed
		failure = fmt.Errorf("service %s: %s hook %s in %s could not run: %v", s.Name, phase, strings.Join(cmd, " "), ct.Name, err)
	case res.ExitCode != 0:
		run.Status = pack.HookFailed
		failure = fmt.Errorf("service %s: %s hook %s in %s exited with %d: %s", s.Name, phase, strings.Join(cmd, " "), ct.Name, res.ExitCode, lastLine(res.StderrTail, res.StdoutTail))
	default:
		run.Status = pack.HookOK
	}
	if failure != nil {
		run.Error = failure.Error()
		if cfg.OnError == consistency.OnErrorContinue {
			run.Status = pack.HookIgnored
			if res.TimedOut {
				run.Status = pack.HookTimedOut
			}
		}
	}
	if e := r.serviceEntry(s.Name); e != nil {
		e.Hooks = append(e.Hooks, run)
	}
	fields := []zap.Field{zap.String("service", s.Name), zap.String("container", ct.Name), zap.String("phase", phase), zap.String("status", run.Status),
		zap.Int("exit_code", run.ExitCode), zap.Duration("took", res.Duration), zap.String("stdout", run.StdoutTail), zap.String("stderr", run.StderrTail)}
	if failure != nil {
		r.log.Warn("hook failed", append(fields, zap.String("on_error", cfg.OnError), zap.Error(failure))...)
		if cfg.OnError == consistency.OnErrorFail {
			return fmt.Errorf("%w: %w", ErrHookFailed, failure)
		}
		return nil
	}
	r.log.Info("hook ran", fields...)
	return nil
}

// lastLine is the last non-empty line of the first non-empty text.
func lastLine(texts ...string) string {
	for _, t := range texts {
		if t = strings.TrimSpace(t); t != "" {
			lines := strings.Split(t, "\n")
			return lines[len(lines)-1]
		}
	}
	return "no output"
}

// dumps streams each service's dump into the pack (dumps/<service>.<ext>),
// from its first running container, while everything runs.
func (r *runner) dumps(ctx context.Context) error {
	cp := r.plan.Consistency
	if cp == nil {
		return nil
	}
	for _, s := range cp.Services {
		if !s.Config.HasDump() {
			continue
		}
		if err := r.dump(ctx, s); err != nil {
			return stepErr(progress.StepVolumes, s.Config.DumpFile(), err)
		}
	}
	return nil
}

func (r *runner) dump(ctx context.Context, s consistency.ServicePlan) error {
	eng, err := r.execEngine()
	if err != nil {
		return err
	}
	if len(s.Running) == 0 {
		return fmt.Errorf("%w: service %s has no running container to dump from", ErrDumpFailed, s.Name)
	}
	cfg, ct := s.Config, s.Running[0]
	rel := cfg.DumpFile()
	r.trk.Begin(progress.StepVolumes, rel, 0, r.t("job.dump", s.Name, rel))
	var res dockerapi.ExecResult
	fe, err := r.writeFile(ctx, progress.StepVolumes, rel, rel, pack.FileDump, func(w io.Writer) error {
		var err error
		res, err = eng.Exec(ctx, dockerapi.ExecOptions{Container: ct.ID, Cmd: cfg.Dump, Stdout: w, Timeout: cfg.DumpTimeout})
		switch {
		case err != nil:
			return fmt.Errorf("%w: service %s: the dump %s in %s: %w", ErrDumpFailed, s.Name, strings.Join(cfg.Dump, " "), ct.Name, err)
		case res.ExitCode != 0:
			return fmt.Errorf("%w: service %s: the dump %s in %s exited with %d: %s", ErrDumpFailed, s.Name, strings.Join(cfg.Dump, " "), ct.Name, res.ExitCode,
				lastLine(res.StderrTail))
		case res.StdoutBytes == 0:
			return fmt.Errorf("%w: service %s: the dump %s in %s wrote nothing: %s", ErrDumpFailed, s.Name, strings.Join(cfg.Dump, " "), ct.Name,
				lastLine(res.StderrTail, "no output"))
		}
		return nil
	})
	if err != nil {
		r.log.Warn("dump failed", zap.String("service", s.Name), zap.String("container", ct.Name), zap.String("stderr", res.StderrTail), zap.Error(err))
		return err
	}
	if e := r.serviceEntry(s.Name); e != nil {
		e.Dump = &pack.DumpEntry{File: rel, Container: ct.Name, Command: slices.Clone(cfg.Dump), RestoreCommand: slices.Clone(cfg.RestoreDump),
			RestoreStops: cfg.RestoreStops, Size: fe.Size, DurationMS: res.Duration.Milliseconds(), StderrTail: res.StderrTail}
	}
	r.log.Info("dump written", zap.String("service", s.Name), zap.String("container", ct.Name), zap.String("file", rel), zap.Int64("bytes", fe.Size),
		zap.Duration("took", res.Duration))
	return nil
}

// binds captures the plan's bind mounts into the pack (binds/<service>/<name>.tar).
func (r *runner) binds(ctx context.Context) error {
	cp := r.plan.Consistency
	if cp == nil {
		return nil
	}
	n := 0
	for _, b := range cp.Binds {
		if b.Captured() {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	r.trk.Message(r.t("job.binds", n), true)
	for _, b := range cp.Binds {
		if !b.Captured() {
			continue
		}
		var content int64
		if _, err := r.writeFile(ctx, progress.StepCompose, b.Source, b.File, pack.FileBind, func(w io.Writer) error {
			var err error
			content, err = consistency.WriteBindTar(ctx, b.Source, b.Type, w)
			return err
		}); err != nil {
			return stepErr(progress.StepCompose, b.Source, fmt.Errorf("capture the bind mount %s of %s: %w", b.Source, b.Container, err))
		}
		r.man.Consistency.Binds = append(r.man.Consistency.Binds, pack.BindEntry{Service: b.Service, Container: b.Container, Source: b.Source,
			Destination: b.Destination, Type: b.Type, ReadOnly: b.ReadOnly, Size: content, File: b.File})
	}
	return nil
}
