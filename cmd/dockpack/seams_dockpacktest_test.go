//go:build dockpacktest

package main

import (
	"testing"

	"go.uber.org/zap"
)

// Built with the tag, the DOCKPACK_TEST_* variables install the seams.
func TestTestSeamsUnderBuildTag(t *testing.T) {
	t.Setenv("DOCKPACK_TEST_THROTTLE_BPS", "100")
	if h := testHooks(zap.NewNop()); h.BeforeStep == nil || h.WrapWriter == nil {
		t.Error("no test hooks with -tags dockpacktest and DOCKPACK_TEST_THROTTLE_BPS set")
	}
	t.Setenv("DOCKPACK_TEST_THROTTLE_BPS", "")
	if h := testHooks(zap.NewNop()); h.BeforeStep != nil || h.WrapWriter != nil {
		t.Error("test hooks without a DOCKPACK_TEST_* variable")
	}
}
