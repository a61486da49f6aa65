package testseams_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

func TestSeamHoldAndThrottle(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(testseams.EnvHoldStep, "volumes")
	t.Setenv(testseams.EnvHoldDir, dir)
	t.Setenv(testseams.EnvThrottle, "1000000")
	s := testseams.FromEnv(zap.NewNop())
	h := s.Hooks()
	ctx, cancel := context.WithCancelCause(context.Background())
	if err := h.BeforeStep(ctx, progress.StepVolumes); err != nil {
		t.Fatal(err)
	}
	var sink bytes.Buffer
	w := h.WrapWriter(progress.StepVolumes, "vol", &sink)
	if n, err := w.Write(make([]byte, 1000)); n != 1000 || err != nil {
		t.Fatalf("first write: %d %v", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Write(make([]byte, 10))
		done <- err
	}()
	marker := filepath.Join(dir, "held-volumes")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hold marker never appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the held write returned before the cancel: %v", err)
	default:
	}
	why := errors.New("test cancel")
	cancel(why)
	if err := <-done; !errors.Is(err, why) {
		t.Errorf("held write returned %v, want the cancel cause", err)
	}
	// Non-data steps hold at their start.
	t.Setenv(testseams.EnvHoldStep, "manifest")
	s2 := testseams.FromEnv(zap.NewNop())
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := s2.Hooks().BeforeStep(ctx2, progress.StepManifest); !errors.Is(err, context.Canceled) {
		t.Errorf("manifest hold: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "held-manifest")); err != nil {
		t.Error("no marker for the manifest hold")
	}
	// A canceled throttled write returns at once with the cause.
	t.Setenv(testseams.EnvHoldStep, "")
	t.Setenv(testseams.EnvThrottle, "100")
	s3 := testseams.FromEnv(zap.NewNop())
	ctx3, cancel3 := context.WithCancelCause(context.Background())
	h3 := s3.Hooks()
	h3.BeforeStep(ctx3, progress.StepImages)
	w3 := h3.WrapWriter(progress.StepImages, "images.tar", &sink)
	go func() { time.Sleep(50 * time.Millisecond); cancel3(why) }()
	n, err := w3.Write(make([]byte, 100000)) // 1000 s at 100 B/s
	if !errors.Is(err, why) || n >= 100000 {
		t.Errorf("throttled write under cancel: %d %v", n, err)
	}
	// No seam variables: no hooks at all.
	t.Setenv(testseams.EnvThrottle, "")
	if h := testseams.FromEnv(zap.NewNop()).Hooks(); h.BeforeStep != nil || h.WrapWriter != nil {
		t.Error("hooks installed without seam variables")
	}
}
