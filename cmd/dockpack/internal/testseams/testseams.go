// Package testseams holds the test seams of the process-level tests
// (integration/daemon_*, integration/cli_*): they reach precise moments of
// a backup in a built dockpack binary without sleeping. Only a binary built
// with -tags dockpacktest reads them (cmd/dockpack/seams_dockpacktest.go);
// the production binary does not link this package.
package testseams

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/progress"
	"go.uber.org/zap"
)

// The seams are read from the environment by `dockpack serve` and
// `dockpack backup` (built with -tags dockpacktest); a process started with
// one logs a warning.
//
//	DOCKPACK_TEST_THROTTLE_BPS=N  every pack file is written at no more than N bytes/s
//	DOCKPACK_TEST_HOLD_STEP=STEP  the job stops in STEP until its context ends (cancel,
//	                              lost lease, shutdown): in volumes and images after the
//	                              step's first write (services are stopped, a file is half
//	                              written), in the other steps at their start
//	DOCKPACK_TEST_HOLD_DIR=DIR    where the marker file "held-<STEP>" is created when the hold
//	                              is reached (no marker without it)
const (
	EnvThrottle = "DOCKPACK_TEST_THROTTLE_BPS"
	EnvHoldStep = "DOCKPACK_TEST_HOLD_STEP"
	EnvHoldDir  = "DOCKPACK_TEST_HOLD_DIR"
)

// Seams are the test seams of one process.
type Seams struct {
	bps      int64
	holdStep progress.Step
	holdDir  string
	log      *zap.Logger

	mu  sync.Mutex
	ctx context.Context // the running job's context (one job at a time per process)
}

// FromEnv reads the seams from the environment.
func FromEnv(log *zap.Logger) *Seams {
	s := &Seams{log: log}
	if v := os.Getenv(EnvThrottle); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && n > 0 {
			s.bps = n
			log.Warn("TEST SEAM active: pack writes are throttled", zap.String("env", EnvThrottle), zap.Int64("bytes_per_second", n))
		}
	}
	if v := os.Getenv(EnvHoldStep); v != "" {
		s.holdStep = progress.Step(v)
		s.holdDir = os.Getenv(EnvHoldDir)
		log.Warn("TEST SEAM active: jobs hold in a step until canceled", zap.String("env", EnvHoldStep), zap.String("step", v))
	}
	return s
}

func (s *Seams) active() bool { return s.bps > 0 || s.holdStep != "" }

func (s *Seams) jobCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return context.TODO()
	}
	return s.ctx
}

// dataStep: the hold of these steps happens after their first write.
func dataStep(st progress.Step) bool { return st == progress.StepVolumes || st == progress.StepImages }

// hold marks the hold reached and blocks until the job's context ends.
func (s *Seams) hold(ctx context.Context, step progress.Step) error {
	if s.holdDir != "" {
		_ = os.WriteFile(filepath.Join(s.holdDir, "held-"+string(step)), []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	s.log.Warn("TEST SEAM: holding", zap.String("step", string(step)))
	<-ctx.Done()
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}

// Hooks are the backup hooks of the seams: none when no seam is set.
func (s *Seams) Hooks() backup.Hooks {
	if !s.active() {
		return backup.Hooks{}
	}
	return backup.Hooks{
		BeforeStep: func(ctx context.Context, step progress.Step) error {
			s.mu.Lock()
			s.ctx = ctx
			s.mu.Unlock()
			if step == s.holdStep && !dataStep(step) {
				return s.hold(ctx, step)
			}
			return nil
		},
		WrapWriter: func(step progress.Step, item string, w io.Writer) io.Writer {
			return &seamWriter{s: s, step: step, w: w, start: time.Now()}
		},
	}
}

// seamWriter throttles and/or holds one pack file's writes.
type seamWriter struct {
	s       *Seams
	step    progress.Step
	w       io.Writer
	start   time.Time
	written int64
}

func (sw *seamWriter) Write(p []byte) (int, error) {
	ctx := sw.s.jobCtx()
	if sw.step == sw.s.holdStep && sw.written > 0 {
		return 0, sw.s.hold(ctx, sw.step)
	}
	if sw.s.bps <= 0 {
		n, err := sw.w.Write(p)
		sw.written += int64(n)
		return n, err
	}
	chunk := max(sw.s.bps/20, 512)
	total := 0
	for len(p) > 0 {
		n := int(min(int64(len(p)), chunk))
		due := sw.start.Add(time.Duration(float64(sw.written+int64(n)) / float64(sw.s.bps) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return total, context.Cause(ctx)
			case <-t.C:
			}
		}
		m, err := sw.w.Write(p[:n])
		total += m
		sw.written += int64(m)
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}
