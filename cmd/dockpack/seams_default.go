//go:build !dockpacktest

package main

import (
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
)

// testHooks: the production binary has no test seams (see
// seams_dockpacktest.go); it neither reads DOCKPACK_TEST_* nor links
// package testseams.
func testHooks(*zap.Logger) backup.Hooks { return backup.Hooks{} }
