//go:build dockpacktest

package main

import (
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/cmd/dockpack/internal/testseams"
)

// testHooks are the test seams of the process-level tests, read from the
// DOCKPACK_TEST_* environment (package testseams). Only a binary built with
// -tags dockpacktest has them, as the integration tests build it.
func testHooks(log *zap.Logger) backup.Hooks { return testseams.FromEnv(log).Hooks() }
