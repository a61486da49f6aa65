package backuptest

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/jobs"
)

// Settings are DefaultSettings with a fresh target directory and project "demo".
func Settings(t testing.TB) settings.Settings {
	t.Helper()
	s := settings.Default()
	s.TargetLocalDir = filepath.Join(t.TempDir(), "target")
	if err := os.MkdirAll(s.TargetLocalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.RagflowProjectName = "demo"
	return s
}

// MustManager opens a Manager with test defaults (short timeouts, no
// scheduler, the fake engine, a backuptest.Relaxed mount policy) for the fields cfg leaves zero.
func MustManager(t testing.TB, cfg jobs.Config) *jobs.Manager {
	t.Helper()
	cfg.DisableScheduler = true
	return mustManager(t, cfg)
}

// MustManagerWithScheduler is MustManager with the scheduler running.
func MustManagerWithScheduler(t testing.TB, cfg jobs.Config) *jobs.Manager {
	t.Helper()
	return mustManager(t, cfg)
}

func mustManager(t testing.TB, cfg jobs.Config) *jobs.Manager {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Engine == nil {
		cfg.Engine = NewRunningEngine()
	}
	if reflect.ValueOf(cfg.Settings).IsZero() {
		cfg.Settings = Settings(t)
	}
	if cfg.Policy.FSTypes == nil && !cfg.Policy.AnyFSType {
		cfg.Policy = Relaxed
	}
	if cfg.StagingDir == "" {
		cfg.StagingDir = t.TempDir()
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 3 * time.Second
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 30 * time.Second
	}
	if cfg.CancelGrace == 0 {
		cfg.CancelGrace = time.Second
	}
	if cfg.PersistInterval == 0 {
		cfg.PersistInterval = 100 * time.Millisecond
	}
	m, err := jobs.NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}
