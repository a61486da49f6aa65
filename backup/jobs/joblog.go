package jobs

import (
	"fmt"
	"sort"
	"strings"

	"go.uber.org/zap/zapcore"
)

// jobLogCore copies a job's Info+ log entries into the job's log lines.
type jobLogCore struct {
	zapcore.LevelEnabler
	fields []zapcore.Field
	sink   func(level, msg string)
}

func (c *jobLogCore) With(fs []zapcore.Field) zapcore.Core {
	return &jobLogCore{LevelEnabler: c.LevelEnabler, fields: append(append([]zapcore.Field(nil), c.fields...), fs...), sink: c.sink}
}

func (c *jobLogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *jobLogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	delete(enc.Fields, "job_id")
	delete(enc.Fields, "project")
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(e.Message)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, enc.Fields[k])
	}
	c.sink(e.Level.String(), b.String())
	return nil
}

func (c *jobLogCore) Sync() error { return nil }
