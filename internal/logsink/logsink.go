// Package logsink is a zap core that hands each entry to a function as one
// line: the message followed by its fields, sorted by key ("msg k=v ..."),
// leaving out the fields named in Drop. A job's logger tees into one, so
// what the backup logs also becomes the job's log lines.
package logsink

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap/zapcore"
)

// Core hands entries at the enabled levels to Sink as lines.
type Core struct {
	zapcore.LevelEnabler
	// Sink receives the level ("info", "warn", …) and the line.
	Sink func(level, line string)
	// Drop names fields left out of the line (e.g. ones every line would repeat).
	Drop   []string
	fields []zapcore.Field
}

// With returns a core that adds fs to every entry.
func (c *Core) With(fs []zapcore.Field) zapcore.Core {
	return &Core{LevelEnabler: c.LevelEnabler, Sink: c.Sink, Drop: c.Drop, fields: append(slices.Clone(c.fields), fs...)}
}

// Check adds the core when the entry's level is enabled.
func (c *Core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write formats the entry as a line and hands it to Sink.
func (c *Core) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	for _, k := range c.Drop {
		delete(enc.Fields, k)
	}
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
	c.Sink(e.Level.String(), b.String())
	return nil
}

// Sync does nothing: Sink is called synchronously.
func (c *Core) Sync() error { return nil }
