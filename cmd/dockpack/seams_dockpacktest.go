//go:build dockpacktest

package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/cmd/dockpack/testseams"
)

// testHooks are the test seams of the process-level tests, read from the
// DOCKPACK_TEST_* environment (package testseams). Only a binary built with
// -tags dockpacktest has them, as the integration tests build it.
func testHooks(log *zap.Logger) backup.Hooks { return testseams.FromEnv(log).Hooks() }

// testEngineHook is the helper-creation seam of the engine client.
func testEngineHook(log *zap.Logger) func(ctx context.Context, kind, name string) {
	return testseams.FromEnv(log).BeforeCreate()
}

// testAtExit writes the process's peak RSS for the benchmarks
// (testseams.EnvPeakFile).
func testAtExit() { testseams.WritePeak() }
