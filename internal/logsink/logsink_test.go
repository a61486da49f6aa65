package logsink_test

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dockpack/dockpack/internal/logsink"
)

func TestLines(t *testing.T) {
	var got []string
	core := &logsink.Core{LevelEnabler: zapcore.InfoLevel, Drop: []string{"job_id"},
		Sink: func(level, line string) { got = append(got, level+" "+line) }}
	log := zap.New(core).With(zap.Int64("job_id", 7), zap.String("step", "volumes"))
	log.Debug("not enabled")
	log.Info("exported", zap.Int("bytes", 10), zap.String("a", "x"))
	log.Warn("slow")
	want := []string{"info exported a=x bytes=10 step=volumes", "warn slow step=volumes"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("lines %q, want %q", got, want)
	}
}
