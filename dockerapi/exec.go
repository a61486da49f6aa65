package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"go.uber.org/zap"
)

// ErrContainerNotRunning: a command was to run in a container that does not run.
var ErrContainerNotRunning = errors.New("container is not running")

// ErrExecTimeout: a command run with Exec did not end within its timeout.
var ErrExecTimeout = errors.New("command timed out")

// DefaultExecTail is how many bytes of each output stream ExecResult keeps.
const DefaultExecTail = 4096

// ExecOptions is one command to run in a running container.
type ExecOptions struct {
	// Container is the container's ID or name (required).
	Container string
	// Cmd is the command and its arguments, run without a shell (required).
	Cmd []string
	// Env adds KEY=VALUE pairs to the container's environment.
	Env []string
	// User runs the command as this user (default: the container's).
	User string
	// Stdin, when set, is copied to the command's standard input, which is
	// closed at its end.
	Stdin io.Reader
	// Stdout, when set, receives the whole standard output (a dump); the
	// result keeps only its tail either way.
	Stdout io.Writer
	// Timeout bounds the command; 0: only ctx bounds it. At the timeout (or
	// when ctx ends) the command's processes are killed (see Exec).
	Timeout time.Duration
	// Tail is how many bytes of each stream the result keeps. Default DefaultExecTail.
	Tail int
}

// ExecResult is what a command run with Exec did.
type ExecResult struct {
	// ExitCode is the command's exit status; -1 when it did not end by
	// itself (timed out, canceled) or the engine did not say.
	ExitCode int
	Duration time.Duration
	// StdoutTail and StderrTail are the last bytes of each stream (valid UTF-8).
	StdoutTail, StderrTail string
	// StdoutBytes and StderrBytes count everything the command wrote.
	StdoutBytes, StderrBytes int64
	// TimedOut: the timeout ended the command.
	TimedOut bool
	// Killed: dockpack killed the command's processes (timeout or cancel);
	// KillNote says how, or why it could not.
	Killed   bool
	KillNote string
}

// Exec runs a command in a running container through the Engine API (exec
// create, attach, inspect; never the docker CLI), with stdout and stderr
// demultiplexed. A command that exits non-zero is not an error: see
// ExitCode. The error is ErrContainerNotRunning for a container that does
// not run, ErrExecTimeout at the timeout, ctx's error when it ends, or the
// engine's or Stdout's error.
//
// Engine API 1.41 (Docker 20.10) has no call that stops an exec'd process:
// ending the attach stream only closes its pipes. At the timeout (or a
// cancel) Exec therefore kills the command's process and its descendants
// itself, by the host PID the engine reports (exec inspect), after checking
// that the process belongs to the container's cgroup — possible when
// dockpack runs on the engine's host with access to its PID namespace (as
// root beside the engine, or in a container with --pid=host). Otherwise
// the result says so (Killed false, KillNote) and the command may still run
// inside the container until it ends by itself.
func (c *Client) Exec(ctx context.Context, o ExecOptions) (ExecResult, error) {
	res := ExecResult{ExitCode: -1}
	if o.Container == "" || len(o.Cmd) == 0 {
		return res, fmt.Errorf("%w: Exec needs a container and a command", ErrInvalidArgument)
	}
	if o.Tail <= 0 {
		o.Tail = DefaultExecTail
	}
	start := time.Now()
	created, err := c.cli.ContainerExecCreate(ctx, o.Container, container.ExecOptions{
		User: o.User, AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true, Env: o.Env, Cmd: o.Cmd,
	})
	if err != nil {
		if cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "is not running") {
			return res, fmt.Errorf("run %s in %s: %w", quoteCmd(o.Cmd), o.Container, ErrContainerNotRunning)
		}
		return res, c.engineErr(fmt.Sprintf("create exec %s in %s", quoteCmd(o.Cmd), o.Container), err, ErrContainerNotFound)
	}
	att, err := c.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return res, c.engineErr(fmt.Sprintf("start exec %s in %s", quoteCmd(o.Cmd), o.Container), err, ErrContainerNotFound)
	}
	defer att.Close()
	out, errw := newTailWriter(o.Tail, o.Stdout), newTailWriter(o.Tail, nil)
	copied := make(chan error, 1)
	go func() {
		if o.Stdin != nil {
			go func() {
				_, _ = io.Copy(att.Conn, o.Stdin)
				_ = att.CloseWrite()
			}()
		}
		_, err := stdcopy.StdCopy(out, errw, att.Reader)
		copied <- err
	}()
	var timeout <-chan time.Time
	if o.Timeout > 0 {
		t := time.NewTimer(o.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var runErr error
	select {
	case err := <-copied:
		if err != nil {
			// Stdout failed (the pack) or the stream broke: stop the command.
			runErr = err
			c.killExec(ctx, created.ID, o.Container, &res)
		}
	case <-timeout:
		res.TimedOut = true
		runErr = fmt.Errorf("%s in %s did not end within %s: %w", quoteCmd(o.Cmd), o.Container, o.Timeout, ErrExecTimeout)
		c.killExec(ctx, created.ID, o.Container, &res)
	case <-ctx.Done():
		runErr = ctx.Err()
		c.killExec(ctx, created.ID, o.Container, &res)
	}
	if runErr != nil {
		att.Close()
		<-copied
	}
	res.Duration = time.Since(start)
	res.StdoutTail, res.StdoutBytes = out.tail(), out.n
	res.StderrTail, res.StderrBytes = errw.tail(), errw.n
	if runErr != nil {
		return res, runErr
	}
	code, err := c.execExitCode(ctx, created.ID)
	if err != nil {
		return res, err
	}
	res.ExitCode = code
	res.Duration = time.Since(start)
	return res, nil
}

// execExitCode waits (briefly) until the engine reports the exec ended and
// returns its exit code: the stream can end a moment before the engine
// records the exit.
func (c *Client) execExitCode(ctx context.Context, id string) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := c.cli.ContainerExecInspect(ctx, id)
		if err != nil {
			return -1, c.engineErr("inspect exec "+shortID(id), err, nil)
		}
		if !in.Running {
			return in.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("exec %s: its output ended but the engine still reports it running", shortID(id))
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// killExec kills a running exec's process tree (see Exec) on a fresh
// context, and records the outcome in res.
func (c *Client) killExec(ctx context.Context, execID, ctr string, res *ExecResult) {
	kctx, cancel := cleanupContext(ctx, c.opts.CleanupTimeout)
	defer cancel()
	in, err := c.cli.ContainerExecInspect(kctx, execID)
	if err != nil {
		res.KillNote = "could not inspect the command to kill it: " + err.Error()
		return
	}
	if !in.Running {
		res.KillNote = "the command had already ended"
		return
	}
	n, err := killProcessTree(in.Pid, in.ContainerID)
	if err != nil {
		res.KillNote = fmt.Sprintf("the engine (API %s) cannot stop an exec, and its process %d is not reachable from here (%v): it may still run in %s",
			c.cli.ClientVersion(), in.Pid, err, ctr)
		c.log.Warn("exec not killed", zap.String("container", ctr), zap.Int("pid", in.Pid), zap.Error(err))
		return
	}
	res.Killed = true
	res.KillNote = fmt.Sprintf("killed %d process(es) (host pid %d and its descendants) with SIGKILL", n, in.Pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if in, err := c.cli.ContainerExecInspect(kctx, execID); err != nil || !in.Running {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.log.Info("exec killed", zap.String("container", ctr), zap.Int("pid", in.Pid), zap.Int("processes", n))
}

// tailWriter counts what passes, forwards it to w (when set) and keeps the last max bytes.
type tailWriter struct {
	mu  sync.Mutex
	w   io.Writer
	max int
	buf []byte
	n   int64
}

func newTailWriter(max int, w io.Writer) *tailWriter { return &tailWriter{w: w, max: max} }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w != nil {
		n, err := t.w.Write(p)
		t.keep(p[:n])
		return n, err
	}
	t.keep(p)
	return len(p), nil
}

func (t *tailWriter) keep(p []byte) {
	t.n += int64(len(p))
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
}

// tail is the kept bytes as valid UTF-8 (a rune cut at the start is dropped).
func (t *tailWriter) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "")
}

// quoteCmd renders a command for messages.
func quoteCmd(cmd []string) string {
	parts := make([]string, len(cmd))
	for i, a := range cmd {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
