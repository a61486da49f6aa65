package metrics_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/dockpack/dockpack/internal/metrics"
)

// Starts refused before a job existed are counted by code.
func TestStartRefusalsCounted(t *testing.T) {
	c := metrics.New(metrics.Options{Version: "test"})
	c.StartRefused("target_not_mounted")
	c.StartRefused("target_not_mounted")
	c.StartRefused("sqlite_not_found")
	var buf bytes.Buffer
	if err := c.Write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	got := mtParse(t, buf.String())
	if got[`dockpack_start_refusals_total{code="target_not_mounted"}`] != 2 || got[`dockpack_start_refusals_total{code="sqlite_not_found"}`] != 1 {
		t.Errorf("refusals: %v", got)
	}
}
