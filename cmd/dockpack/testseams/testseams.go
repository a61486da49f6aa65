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
//	DOCKPACK_TEST_HOLD_AT=start   volumes and images hold at their start too (before the
//	                              engine sends a byte: a silent ImageSave)
//	DOCKPACK_TEST_HOLD_STEP=committed  the backup holds right after the pack got its final
//	                              name (before the job records its end)
//	DOCKPACK_TEST_CREATE_HOLD_MS=N  each helper container or image creation waits N ms first,
//	                              after creating the marker "creating-<kind>" in HOLD_DIR
//	DOCKPACK_TEST_HOLD_BYTES=N    the job holds once N bytes of its pack files are written
//	                              (counted across the files, in pack order; marker "held-bytes")
const (
	EnvThrottle   = "DOCKPACK_TEST_THROTTLE_BPS"
	EnvHoldStep   = "DOCKPACK_TEST_HOLD_STEP"
	EnvHoldDir    = "DOCKPACK_TEST_HOLD_DIR"
	EnvHoldAt     = "DOCKPACK_TEST_HOLD_AT"
	EnvCreateHold = "DOCKPACK_TEST_CREATE_HOLD_MS"
	EnvHoldBytes  = "DOCKPACK_TEST_HOLD_BYTES"
)

// HoldBytes is the step name of the HOLD_BYTES hold's marker ("held-bytes").
const HoldBytes = "bytes"

// HoldCommitted is the HOLD_STEP value of the instant after the rename.
const HoldCommitted = "committed"

// Seams are the test seams of one process.
type Seams struct {
	bps        int64
	holdStep   progress.Step
	holdDir    string
	holdStart  bool
	createHold time.Duration
	holdBytes  int64
	log        *zap.Logger

	mu        sync.Mutex
	ctx       context.Context // the running job's context (one job at a time per process)
	packBytes int64           // bytes of pack files the running job wrote
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
	s.holdDir = os.Getenv(EnvHoldDir)
	if v := os.Getenv(EnvHoldStep); v != "" {
		s.holdStep = progress.Step(v)
		s.holdStart = os.Getenv(EnvHoldAt) == "start"
		log.Warn("TEST SEAM active: jobs hold in a step until canceled", zap.String("env", EnvHoldStep), zap.String("step", v))
	}
	if v := os.Getenv(EnvHoldBytes); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			s.holdBytes = n
			log.Warn("TEST SEAM active: jobs hold after writing some bytes", zap.String("env", EnvHoldBytes), zap.Int64("bytes", n))
		}
	}
	if v := os.Getenv(EnvCreateHold); v != "" {
		if ms, err := strconv.Atoi(v); err == nil && ms >= 0 {
			s.createHold = time.Duration(ms) * time.Millisecond
			log.Warn("TEST SEAM active: helper creations wait", zap.String("env", EnvCreateHold), zap.Duration("wait", s.createHold))
		}
	}
	return s
}

// BeforeCreate is the dockerapi.Options.BeforeCreate seam (nil when not set):
// it marks the instant a helper is about to be created and waits, so that a
// test can cancel, signal or kill right then.
func (s *Seams) BeforeCreate() func(ctx context.Context, kind, name string) {
	if os.Getenv(EnvCreateHold) == "" {
		return nil
	}
	return func(ctx context.Context, kind, name string) {
		if s.holdDir != "" {
			_ = os.WriteFile(filepath.Join(s.holdDir, "creating-"+kind), []byte(name), 0o644)
		}
		t := time.NewTimer(s.createHold)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

func (s *Seams) active() bool { return s.bps > 0 || s.holdStep != "" || s.holdBytes > 0 }

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
			if step == progress.StepPrecheck {
				s.packBytes = 0 // a new job
			}
			s.mu.Unlock()
			if step == s.holdStep && (!dataStep(step) || s.holdStart) {
				return s.hold(ctx, step)
			}
			return nil
		},
		AfterCommit: func(ctx context.Context, pack string) {
			if s.holdStep == HoldCommitted {
				_ = s.hold(ctx, HoldCommitted)
			}
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
	if sw.step == sw.s.holdStep && !sw.s.holdStart && sw.written > 0 {
		return 0, sw.s.hold(ctx, sw.step)
	}
	if sw.s.holdBytes > 0 {
		return sw.writeToHold(ctx, p)
	}
	return sw.throttled(ctx, p)
}

// writeToHold writes p up to the HOLD_BYTES-th byte of the pack, then holds.
func (sw *seamWriter) writeToHold(ctx context.Context, p []byte) (int, error) {
	s := sw.s
	s.mu.Lock()
	room := s.holdBytes - s.packBytes
	s.mu.Unlock()
	if room <= 0 {
		return 0, s.hold(ctx, HoldBytes)
	}
	q := p[:min(int64(len(p)), room)]
	n, err := sw.throttled(ctx, q)
	s.mu.Lock()
	s.packBytes += int64(n)
	s.mu.Unlock()
	if err != nil || n == len(p) {
		return n, err
	}
	return n, s.hold(ctx, HoldBytes)
}

// throttled writes p at no more than THROTTLE_BPS (at once without it).
func (sw *seamWriter) throttled(ctx context.Context, p []byte) (int, error) {
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
