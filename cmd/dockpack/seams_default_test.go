//go:build !dockpacktest

package main

import (
	"reflect"
	"testing"

	"go.uber.org/zap"
)

// Built without the tag, the DOCKPACK_TEST_* variables do nothing.
func TestTestSeamsIgnoredByDefault(t *testing.T) {
	t.Setenv("DOCKPACK_TEST_HOLD_STEP", "volumes")
	t.Setenv("DOCKPACK_TEST_HOLD_DIR", t.TempDir())
	t.Setenv("DOCKPACK_TEST_THROTTLE_BPS", "100")
	if h := testHooks(zap.NewNop()); !reflect.ValueOf(h).IsZero() {
		t.Error("the default build installs test hooks")
	}
}
