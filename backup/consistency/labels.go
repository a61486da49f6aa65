package consistency

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// The label table: the one place that lists the labels dockpack reads on a
// compose service (set under `labels:` in the compose file; compose copies
// them onto the service's containers). Everything else — parsing, the
// documentation table (docs/consistency.md), the precheck's evidence —
// derives from it. Adding a label is one entry here plus its field in
// Config.

// Labels dockpack reads.
const (
	LabelPreset        = "dockpack.preset"
	LabelPreBackup     = "dockpack.pre-backup"
	LabelPostBackup    = "dockpack.post-backup"
	LabelHookTimeout   = "dockpack.hook-timeout"
	LabelHookOnError   = "dockpack.hook-on-error"
	LabelDump          = "dockpack.dump"
	LabelDumpExt       = "dockpack.dump-ext"
	LabelDumpTimeout   = "dockpack.dump-timeout"
	LabelRestoreDump   = "dockpack.restore-dump"
	LabelVolumes       = "dockpack.volumes"
	LabelExcludeReason = "dockpack.exclude-reason"
)

// What a hook's failure does (Config.OnError).
const (
	OnErrorFail     = "fail"     // the backup fails (post hooks and restarts still run)
	OnErrorContinue = "continue" // recorded, and the backup goes on
)

// Defaults of Config.
const (
	DefaultHookTimeout = 60 * time.Second
	DefaultDumpExt     = "dump"
)

// Config is what a service's labels ask for.
type Config struct {
	Service string
	// Preset names the vendor recipe the other fields were filled from
	// (explicit labels win over it).
	Preset string
	// Pre and Post are run in each running container of the service before
	// and after the volume step (Post always, also when the backup fails).
	Pre, Post   []string
	HookTimeout time.Duration
	OnError     string
	// Dump's stdout is the pack's dumps/<service>.<DumpExt>; RestoreDump
	// reads it back on stdin (dockpack restore --dumps).
	Dump        []string
	DumpExt     string
	DumpTimeout time.Duration // 0: none (the backup's context bounds it)
	RestoreDump []string
	// RestoreStops: RestoreDump stops the server to load the dump (redis,
	// valkey); dockpack starts the container again afterwards.
	RestoreStops bool
	// ExcludeVolumes leaves the service's named volumes out of the pack
	// (its dump is the source of truth), for ExcludeReason.
	ExcludeVolumes bool
	ExcludeReason  string
}

// HasHooks reports whether the service has a pre or post hook.
func (c Config) HasHooks() bool { return len(c.Pre) > 0 || len(c.Post) > 0 }

// HasDump reports whether the service has a dump.
func (c Config) HasDump() bool { return len(c.Dump) > 0 }

// Empty reports whether the labels ask for nothing.
func (c Config) Empty() bool { return !c.HasHooks() && !c.HasDump() && !c.ExcludeVolumes }

// DumpFile is the dump's path in the pack.
func (c Config) DumpFile() string { return "dumps/" + c.Service + "." + c.DumpExt }

// Field is one label of the table.
type Field struct {
	Label   string
	Value   string // what the value is, for the documentation
	Doc     string // what it does (English; the documentation's table)
	Example string
	set     func(c *Config, v string) error
}

var table = []Field{
	{Label: LabelPreset, Value: "mysql|mariadb|postgres|redis|valkey|mongodb",
		Doc:     "fills dump, dump-ext, restore-dump from the vendor's recommended commands (explicit labels win)",
		Example: "mysql", set: setPreset},
	{Label: LabelPreBackup, Value: "command", Doc: "run in each running container of the service before the volume step",
		Example: "/usr/local/bin/flush-caches", set: func(c *Config, v string) (err error) { c.Pre, err = splitCommand(v); return }},
	{Label: LabelPostBackup, Value: "command", Doc: "run after the volume step, always (also when the backup failed), after restarts",
		Example: "/usr/local/bin/resume", set: func(c *Config, v string) (err error) { c.Post, err = splitCommand(v); return }},
	{Label: LabelHookTimeout, Value: "duration", Doc: "bound of each hook (default 60s); a hook still running then is killed",
		Example: "2m", set: func(c *Config, v string) (err error) { c.HookTimeout, err = parseDuration(v, false); return }},
	{Label: LabelHookOnError, Value: "fail|continue", Doc: "a failed hook fails the backup (default) or is recorded and the backup goes on",
		Example: "continue", set: setOnError},
	{Label: LabelDump, Value: "command", Doc: "its stdout is streamed into the pack as dumps/<service>.<ext>; a non-zero exit or empty output fails the backup",
		Example: "pg_dumpall -U postgres", set: func(c *Config, v string) (err error) { c.Dump, err = splitCommand(v); return }},
	{Label: LabelDumpExt, Value: "extension", Doc: "the dump file's extension (default dump)",
		Example: "sql", set: setDumpExt},
	{Label: LabelDumpTimeout, Value: "duration", Doc: "bound of the dump (default none)",
		Example: "30m", set: func(c *Config, v string) (err error) { c.DumpTimeout, err = parseDuration(v, true); return }},
	{Label: LabelRestoreDump, Value: "command", Doc: "reads the dump on stdin: dockpack restore PACK --dumps runs it in the running service",
		Example: "psql -U postgres", set: func(c *Config, v string) (err error) { c.RestoreDump, err = splitCommand(v); return }},
	{Label: LabelVolumes, Value: "exclude|include", Doc: "exclude: the service's named volumes stay out of the pack (its dump is the source of truth)",
		Example: "exclude", set: setVolumes},
	{Label: LabelExcludeReason, Value: "text", Doc: "why the volumes are excluded (recorded in the manifest)",
		Example: "cache, rebuilt on start", set: func(c *Config, v string) error { c.ExcludeReason = strings.TrimSpace(v); return nil }},
}

// Fields lists the label table (for documentation and tests).
func Fields() []Field { return slices.Clone(table) }

// Parse reads a service's labels: the preset first, then every other
// label of the table over it. Labels outside the table are ignored. The
// error lists every label whose value is invalid.
func Parse(service string, labels map[string]string) (Config, error) {
	c := Config{Service: service, HookTimeout: DefaultHookTimeout, OnError: OnErrorFail, DumpExt: DefaultDumpExt}
	var errs []error
	for _, f := range table {
		v, ok := labels[f.Label]
		if !ok {
			continue
		}
		if err := f.set(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("service %s: label %s=%q: %w", service, f.Label, v, err))
		}
	}
	if c.ExcludeVolumes && c.ExcludeReason == "" {
		c.ExcludeReason = "excluded by " + LabelVolumes + "=exclude"
		if c.HasDump() {
			c.ExcludeReason = "the dump " + c.DumpFile() + " is the source of truth"
		}
	}
	if len(c.RestoreDump) > 0 && !c.HasDump() {
		errs = append(errs, fmt.Errorf("service %s: %s is set but there is no %s", service, LabelRestoreDump, LabelDump))
	}
	return c, errors.Join(errs...)
}

// HasLabels reports whether labels hold any label of the table.
func HasLabels(labels map[string]string) bool {
	for _, f := range table {
		if _, ok := labels[f.Label]; ok {
			return true
		}
	}
	return false
}

// Describe renders the labels of the table that are set, sorted ("k=v; …"), for evidence.
func Describe(labels map[string]string) string {
	var out []string
	for _, f := range table {
		if v, ok := labels[f.Label]; ok {
			out = append(out, f.Label+"="+v)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func setOnError(c *Config, v string) error {
	switch v = strings.ToLower(strings.TrimSpace(v)); v {
	case OnErrorFail, OnErrorContinue:
		c.OnError = v
		return nil
	}
	return errors.New("want fail or continue")
}

func setVolumes(c *Config, v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "exclude":
		c.ExcludeVolumes = true
	case "include", "":
		c.ExcludeVolumes = false
	default:
		return errors.New("want exclude or include")
	}
	return nil
}

func setDumpExt(c *Config, v string) error {
	v = strings.TrimPrefix(strings.TrimSpace(v), ".")
	if v == "" || len(v) > 16 || strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) {
		return errors.New("want a file extension of letters, digits, '.', '-' or '_' (at most 16)")
	}
	c.DumpExt = v
	return nil
}

func setPreset(c *Config, v string) error {
	p, ok := LookupPreset(v)
	if !ok {
		return fmt.Errorf("unknown preset (known: %s)", strings.Join(PresetNames(), ", "))
	}
	c.Preset = p.Name
	c.Dump, c.RestoreDump, c.DumpExt, c.RestoreStops = slices.Clone(p.Dump), slices.Clone(p.RestoreDump), p.Ext, p.RestoreStops
	return nil
}

// parseDuration reads a Go duration ("90s", "2m") or whole seconds ("90").
func parseDuration(v string, zeroOK bool) (time.Duration, error) {
	v = strings.TrimSpace(v)
	d, err := time.ParseDuration(v)
	if err != nil {
		var secs int64
		if _, serr := fmt.Sscanf(v, "%d", &secs); serr != nil || fmt.Sprint(secs) != v {
			return 0, errors.New("want a duration such as 90s or 5m")
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 || (d == 0 && !zeroOK) {
		return 0, errors.New("want a positive duration")
	}
	return d, nil
}
