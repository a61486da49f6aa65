//go:build !dockpacktest

package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
)

// testHooks: the production binary has no test seams (see
// seams_dockpacktest.go); it neither reads DOCKPACK_TEST_* nor links
// package testseams.
func testHooks(*zap.Logger) backup.Hooks { return backup.Hooks{} }

// testEngineHook: no seam in the production binary.
func testEngineHook(*zap.Logger) func(ctx context.Context, kind, name string) { return nil }

// testAtExit: nothing in the production binary.
func testAtExit() {}
