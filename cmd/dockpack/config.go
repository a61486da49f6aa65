package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/webhook"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

// serveConfig is the configuration of `dockpack serve`. Its sources, in
// order of precedence: flags, DOCKPACK_* environment variables, the YAML
// file named by --config / $DOCKPACK_CONFIG, the defaults below. The YAML
// keys are the yaml tags; see serveOptions for every flag and variable.
type serveConfig struct {
	Listen              string         `yaml:"listen"`
	StateDir            string         `yaml:"state_dir"`
	TokenFile           string         `yaml:"token_file,omitempty"`
	Token               string         `yaml:"token,omitempty"` // secret: redacted by --print-config
	StagingDir          string         `yaml:"staging_dir,omitempty"`
	CompatPrefix        string         `yaml:"compat_prefix"`
	MaxBodyBytes        byteSize       `yaml:"max_body_bytes"`
	WaitOnShutdown      bool           `yaml:"wait_on_shutdown"`
	ShutdownTimeout     duration       `yaml:"shutdown_timeout"`
	LeaseDuration       duration       `yaml:"lease_duration"`
	StallTimeout        duration       `yaml:"stall_timeout"`
	ImagesFirstByteRate byteSize       `yaml:"images_first_byte_rate"`
	CancelGrace         duration       `yaml:"cancel_grace"`
	PersistInterval     duration       `yaml:"persist_interval"`
	SSEKeepAlive        duration       `yaml:"sse_keepalive"`
	TimeZone            string         `yaml:"time_zone,omitempty"`
	DisableScheduler    bool           `yaml:"disable_scheduler"`
	Lang                string         `yaml:"lang,omitempty"` // human messages: en or zh-CN (codes never change)
	Metrics             bool           `yaml:"metrics"`        // GET /metrics behind the token
	Webhook             webhookConfig  `yaml:"webhook"`        // job-end notifications
	Mount               mountConfig    `yaml:"mount"`
	Settings            settingsConfig `yaml:"settings"`
	// Pin lists settings (JSON names) the UI may not change. Settings given
	// by a flag or an environment variable are pinned too.
	Pin []string `yaml:"pin,omitempty"`

	sources map[string]string // key → "flag --x" | "env $X" | "file"
}

// webhookConfig notifies a URL when a job ends (backup.Webhook).
type webhookConfig struct {
	URL         string   `yaml:"url,omitempty"`
	Secret      string   `yaml:"secret,omitempty"` // secret: redacted by --print-config
	Timeout     duration `yaml:"timeout"`
	MaxAttempts int      `yaml:"max_attempts"`
}

// mountConfig is the target mount policy (configuration, never UI-editable).
type mountConfig struct {
	FSTypes      stringList `yaml:"fstype,flow"`
	AnyFSType    bool       `yaml:"any_fstype"`
	AllowRootFS  bool       `yaml:"allow_root_fs"`
	ExpectMount  string     `yaml:"expect_mount,omitempty"`
	ProbeTimeout duration   `yaml:"probe_timeout"`
}

// settingsConfig holds initial values of the UI-editable settings; nil
// means "not configured" (the state DB's value, else the default, holds).
type settingsConfig struct {
	Enabled                 *bool       `yaml:"enabled,omitempty"`
	TargetMode              *string     `yaml:"target_mode,omitempty"`
	TargetLocalDir          *string     `yaml:"target_local_dir,omitempty"`
	RagflowComposePath      *string     `yaml:"ragflow_compose_path,omitempty"`
	RagflowProjectName      *string     `yaml:"ragflow_project_name,omitempty"`
	RagflowStopServices     *bool       `yaml:"ragflow_stop_services,omitempty"`
	AuthDBPath              *string     `yaml:"auth_db_path,omitempty"`
	FullBackupEnabled       *bool       `yaml:"full_backup_enabled,omitempty"`
	FullBackupIncludeImages *bool       `yaml:"full_backup_include_images,omitempty"`
	IncrementalSchedule     *string     `yaml:"incremental_schedule,omitempty"`
	FullBackupSchedule      *string     `yaml:"full_backup_schedule,omitempty"`
	BackupRetentionMax      *int        `yaml:"backup_retention_max,omitempty"`
	StopServices            *stringList `yaml:"stop_services,omitempty,flow"`
}

// Defaults of serveConfig.
const (
	defaultListen   = "127.0.0.1:8420"
	defaultStateDir = "/var/lib/dockpack"
)

func defaultServeConfig() *serveConfig {
	return &serveConfig{
		Listen:              defaultListen,
		StateDir:            defaultStateDir,
		CompatPrefix:        "/api/admin/data-security",
		MaxBodyBytes:        64 << 10,
		ShutdownTimeout:     duration(60 * time.Second),
		LeaseDuration:       duration(30 * time.Second),
		StallTimeout:        duration(10 * time.Minute),
		ImagesFirstByteRate: 20 << 20,
		CancelGrace:         duration(5 * time.Second),
		PersistInterval:     duration(time.Second),
		SSEKeepAlive:        duration(15 * time.Second),
		Metrics:             true,
		Webhook:             webhookConfig{Timeout: duration(10 * time.Second), MaxAttempts: 6},
		Mount:               mountConfig{FSTypes: stringList{"cifs", "smb3"}, ProbeTimeout: duration(10 * time.Second)},
		sources:             map[string]string{},
	}
}

// duration is a time.Duration written "30s" in flags, environment and YAML.
type duration time.Duration

func (d duration) String() string { return time.Duration(d).String() }

func (d duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

func parseDuration(s string) (duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 1h30m)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %s is negative", v)
	}
	return duration(v), nil
}

// byteSize is a size in bytes written "20MiB" or "1048576".
type byteSize int64

func (b byteSize) String() string { return units.BytesSize(float64(b)) }

func (b byteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

func parseByteSize(s string) (byteSize, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return byteSize(n), nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 65536, 64KiB, 20MiB)", s)
	}
	return byteSize(n), nil
}

// stringList is a list written "a,b" in flags and environment, and as a
// YAML sequence or comma-separated string in the file.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = splitList(n.Value)
		return nil
	case yaml.SequenceNode:
		var ss []string
		if err := n.Decode(&ss); err != nil {
			return err
		}
		*l = ss
		return nil
	}
	return fmt.Errorf("line %d: want a list or a comma-separated string", n.Line)
}

func splitList(s string) stringList {
	out := stringList{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("%q is not a boolean (true, false, 1, 0)", s)
	}
	return b, nil
}

// cfgOption is one configuration key reachable by flag and/or environment.
type cfgOption struct {
	key     string // YAML path, e.g. "mount.fstype"
	flag    string // "" = no flag (secrets)
	env     string // "" = no variable
	typ     string // type shown in --help
	usage   string
	setting string // the setting's JSON name: given by flag/env, it is pinned
	set     func(c *serveConfig, v string) error
	get     func(c *serveConfig) string
}

func optString(key, flag, env, usage string, p func(*serveConfig) *string) cfgOption {
	return cfgOption{key: key, flag: flag, env: env, typ: "string", usage: usage,
		set: func(c *serveConfig, v string) error { *p(c) = strings.TrimSpace(v); return nil },
		get: func(c *serveConfig) string { return *p(c) }}
}

func optBool(key, flag, env, usage string, p func(*serveConfig) *bool) cfgOption {
	return cfgOption{key: key, flag: flag, env: env, typ: "bool", usage: usage,
		set: func(c *serveConfig, v string) error {
			b, err := parseBool(v)
			*p(c) = b
			return err
		},
		get: func(c *serveConfig) string { return strconv.FormatBool(*p(c)) }}
}

func optDuration(key, flag, env, usage string, p func(*serveConfig) *duration) cfgOption {
	return cfgOption{key: key, flag: flag, env: env, typ: "duration", usage: usage,
		set: func(c *serveConfig, v string) error {
			d, err := parseDuration(v)
			*p(c) = d
			return err
		},
		get: func(c *serveConfig) string { return p(c).String() }}
}

func optBytes(key, flag, env, usage string, p func(*serveConfig) *byteSize) cfgOption {
	return cfgOption{key: key, flag: flag, env: env, typ: "size", usage: usage,
		set: func(c *serveConfig, v string) error {
			b, err := parseByteSize(v)
			*p(c) = b
			return err
		},
		get: func(c *serveConfig) string { return p(c).String() }}
}

func optList(key, flag, env, usage string, p func(*serveConfig) *stringList) cfgOption {
	return cfgOption{key: key, flag: flag, env: env, typ: "list", usage: usage,
		set: func(c *serveConfig, v string) error { *p(c) = splitList(v); return nil },
		get: func(c *serveConfig) string { return strings.Join(*p(c), ",") }}
}

// Settings options: given by flag or environment they are pinned.
func setString(name, flag, env, usage string, p func(*settingsConfig) **string) cfgOption {
	return cfgOption{key: "settings." + name, flag: flag, env: env, typ: "string", usage: usage, setting: name,
		set: func(c *serveConfig, v string) error { s := strings.TrimSpace(v); *p(&c.Settings) = &s; return nil },
		get: func(c *serveConfig) string { return "" }}
}

func setBool(name, flag, env, usage string, p func(*settingsConfig) **bool) cfgOption {
	return cfgOption{key: "settings." + name, flag: flag, env: env, typ: "bool", usage: usage, setting: name,
		set: func(c *serveConfig, v string) error {
			b, err := parseBool(v)
			*p(&c.Settings) = &b
			return err
		},
		get: func(c *serveConfig) string { return "" }}
}

// serveOptions lists every key settable by flag or environment.
var serveOptions = []cfgOption{
	optString("listen", "listen", "DOCKPACK_LISTEN", "where to listen: host:port or unix:///path/to.sock", func(c *serveConfig) *string { return &c.Listen }),
	optString("state_dir", "state-dir", "DOCKPACK_STATE_DIR", "directory of the state DB (state.db) and the generated token", func(c *serveConfig) *string { return &c.StateDir }),
	optString("token_file", "token-file", "DOCKPACK_TOKEN_FILE", "file holding the bearer token (default: $DOCKPACK_TOKEN, else <state-dir>/token, generated 0600 if missing)", func(c *serveConfig) *string { return &c.TokenFile }),
	optString("token", "", "DOCKPACK_TOKEN", "", func(c *serveConfig) *string { return &c.Token }),
	optString("staging_dir", "staging-dir", "DOCKPACK_STAGING_DIR", "local scratch directory for SQLite snapshots (default the system temp dir)", func(c *serveConfig) *string { return &c.StagingDir }),
	optString("compat_prefix", "compat-prefix", "DOCKPACK_COMPAT_PREFIX", `path prefix of the RagFlowAuth-compatible routes ("-": none)`, func(c *serveConfig) *string { return &c.CompatPrefix }),
	optBytes("max_body_bytes", "max-body-bytes", "DOCKPACK_MAX_BODY_BYTES", "largest request body accepted", func(c *serveConfig) *byteSize { return &c.MaxBodyBytes }),
	optBool("wait_on_shutdown", "wait-on-shutdown", "DOCKPACK_WAIT_ON_SHUTDOWN", "on SIGTERM wait for the running backup instead of canceling it (a second signal stops waiting)", func(c *serveConfig) *bool { return &c.WaitOnShutdown }),
	optDuration("shutdown_timeout", "shutdown-timeout", "DOCKPACK_SHUTDOWN_TIMEOUT", "on SIGTERM, how long canceling and cleaning up the running backup may take", func(c *serveConfig) *duration { return &c.ShutdownTimeout }),
	optDuration("lease_duration", "lease-duration", "DOCKPACK_LEASE_DURATION", "lock lease of a running backup, renewed every third of it", func(c *serveConfig) *duration { return &c.LeaseDuration }),
	optDuration("stall_timeout", "stall-timeout", "DOCKPACK_STALL_TIMEOUT", "a step without progress for this long fails the job (stalled)", func(c *serveConfig) *duration { return &c.StallTimeout }),
	optBytes("images_first_byte_rate", "images-first-byte-rate", "DOCKPACK_IMAGES_FIRST_BYTE_RATE", "per second: engine-side staging speed assumed before an image export's first byte", func(c *serveConfig) *byteSize { return &c.ImagesFirstByteRate }),
	optDuration("cancel_grace", "cancel-grace", "DOCKPACK_CANCEL_GRACE", "a canceled job is reported canceled within this", func(c *serveConfig) *duration { return &c.CancelGrace }),
	optDuration("persist_interval", "persist-interval", "DOCKPACK_PERSIST_INTERVAL", "least time between progress writes to the state DB", func(c *serveConfig) *duration { return &c.PersistInterval }),
	optDuration("sse_keepalive", "sse-keepalive", "DOCKPACK_SSE_KEEPALIVE", "interval of keep-alive comments on event streams", func(c *serveConfig) *duration { return &c.SSEKeepAlive }),
	optString("time_zone", "time-zone", "DOCKPACK_TIME_ZONE", "time zone of the schedules, e.g. Asia/Shanghai (default the daemon's)", func(c *serveConfig) *string { return &c.TimeZone }),
	optBool("disable_scheduler", "disable-scheduler", "DOCKPACK_DISABLE_SCHEDULER", "never run scheduled backups", func(c *serveConfig) *bool { return &c.DisableScheduler }),
	optString("lang", "", "DOCKPACK_LANG", "", func(c *serveConfig) *string { return &c.Lang }), // the flag is the global --lang
	optBool("metrics", "metrics", "DOCKPACK_METRICS", "serve GET /metrics (Prometheus text format) behind the bearer token", func(c *serveConfig) *bool { return &c.Metrics }),
	optString("webhook.url", "webhook-url", "DOCKPACK_WEBHOOK_URL", "POST each finished job's JSON to this URL (retried with backoff; never blocks or fails the job)", func(c *serveConfig) *string { return &c.Webhook.URL }),
	optString("webhook.secret", "", "DOCKPACK_WEBHOOK_SECRET", "", func(c *serveConfig) *string { return &c.Webhook.Secret }),
	optDuration("webhook.timeout", "webhook-timeout", "DOCKPACK_WEBHOOK_TIMEOUT", "time limit of one webhook attempt", func(c *serveConfig) *duration { return &c.Webhook.Timeout }),
	{key: "webhook.max_attempts", flag: "webhook-max-attempts", env: "DOCKPACK_WEBHOOK_MAX_ATTEMPTS", typ: "int",
		usage: "attempts per webhook notification",
		set: func(c *serveConfig, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.Webhook.MaxAttempts = n
			return nil
		},
		get: func(c *serveConfig) string { return strconv.Itoa(c.Webhook.MaxAttempts) }},
	optList("mount.fstype", "fstype", "DOCKPACK_FSTYPE", "filesystem types the target may be on, comma-separated", func(c *serveConfig) *stringList { return &c.Mount.FSTypes }),
	optBool("mount.any_fstype", "any-fstype", "DOCKPACK_ANY_FSTYPE", "accept the target on any filesystem type", func(c *serveConfig) *bool { return &c.Mount.AnyFSType }),
	optBool("mount.allow_root_fs", "allow-root-fs", "DOCKPACK_ALLOW_ROOT_FS", "accept a target on the root filesystem, i.e. not a mounted share", func(c *serveConfig) *bool { return &c.Mount.AllowRootFS }),
	optString("mount.expect_mount", "expect-mount", "DOCKPACK_EXPECT_MOUNT", "the target must be on exactly this mount point, e.g. /mnt/replica", func(c *serveConfig) *string { return &c.Mount.ExpectMount }),
	optDuration("mount.probe_timeout", "probe-timeout", "DOCKPACK_PROBE_TIMEOUT", "how long the target's write probe may take before the mount counts as hung", func(c *serveConfig) *duration { return &c.Mount.ProbeTimeout }),

	setBool("enabled", "backups-enabled", "DOCKPACK_BACKUPS_ENABLED", "setting enabled: scheduled backups run", func(s *settingsConfig) **bool { return &s.Enabled }),
	setString("target_mode", "target-mode", "DOCKPACK_TARGET_MODE", "setting target_mode: local or share", func(s *settingsConfig) **string { return &s.TargetMode }),
	setString("target_local_dir", "target", "DOCKPACK_TARGET", "setting target_local_dir: directory on the mounted share that receives packs", func(s *settingsConfig) **string { return &s.TargetLocalDir }),
	setString("ragflow_compose_path", "compose-file", "DOCKPACK_COMPOSE_FILE", "setting ragflow_compose_path: the stack's compose file", func(s *settingsConfig) **string { return &s.RagflowComposePath }),
	setString("ragflow_project_name", "project", "DOCKPACK_PROJECT", "setting ragflow_project_name: compose project name", func(s *settingsConfig) **string { return &s.RagflowProjectName }),
	setBool("ragflow_stop_services", "stop-all", "DOCKPACK_STOP_ALL", "setting ragflow_stop_services: stop the project's running services during the volume step", func(s *settingsConfig) **bool { return &s.RagflowStopServices }),
	setString("auth_db_path", "sqlite", "DOCKPACK_SQLITE", "setting auth_db_path: the application's SQLite database", func(s *settingsConfig) **string { return &s.AuthDBPath }),
	setBool("full_backup_enabled", "full-backup-enabled", "DOCKPACK_FULL_BACKUP_ENABLED", "setting full_backup_enabled", func(s *settingsConfig) **bool { return &s.FullBackupEnabled }),
	setBool("full_backup_include_images", "full-backup-include-images", "DOCKPACK_FULL_BACKUP_INCLUDE_IMAGES", "setting full_backup_include_images", func(s *settingsConfig) **bool { return &s.FullBackupIncludeImages }),
	setString("incremental_schedule", "incremental-schedule", "DOCKPACK_INCREMENTAL_SCHEDULE", `setting incremental_schedule: 5-field cron ("" = none)`, func(s *settingsConfig) **string { return &s.IncrementalSchedule }),
	setString("full_backup_schedule", "full-backup-schedule", "DOCKPACK_FULL_BACKUP_SCHEDULE", `setting full_backup_schedule: 5-field cron ("" = none)`, func(s *settingsConfig) **string { return &s.FullBackupSchedule }),
	{key: "settings.backup_retention_max", flag: "backup-retention-max", env: "DOCKPACK_BACKUP_RETENTION_MAX", typ: "int",
		usage: "setting backup_retention_max: packs kept (1-100)", setting: "backup_retention_max",
		set: func(c *serveConfig, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.Settings.BackupRetentionMax = &n
			return nil
		},
		get: func(c *serveConfig) string { return "" }},
	{key: "settings.stop_services", flag: "stop", env: "DOCKPACK_STOP", typ: "list",
		usage: "setting stop_services: compose services stopped during the volume step, comma-separated", setting: "stop_services",
		set: func(c *serveConfig, v string) error {
			l := splitList(v)
			c.Settings.StopServices = &l
			return nil
		},
		get: func(c *serveConfig) string { return "" }},
}

// optValue is the pflag.Value of a serve option: it keeps the raw string
// and checks it with the option's parser.
type optValue struct {
	o   *cfgOption
	val string
}

func (v *optValue) String() string { return v.val }
func (v *optValue) Type() string   { return v.o.typ }
func (v *optValue) Set(s string) error {
	if err := v.o.set(defaultServeConfig(), s); err != nil {
		return err
	}
	v.val = s
	return nil
}

// bindServeFlags registers --config and every option's flag on fs.
func bindServeFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file ($DOCKPACK_CONFIG); flags and DOCKPACK_* variables override it")
	def := defaultServeConfig()
	for i := range serveOptions {
		o := &serveOptions[i]
		if o.flag == "" {
			continue
		}
		usage := o.usage
		if o.env != "" {
			usage += " ($" + o.env + ")"
		}
		if o.setting != "" {
			usage += "; pins it"
		}
		fs.Var(&optValue{o: o, val: o.get(def)}, o.flag, usage)
		if o.typ == "bool" {
			fs.Lookup(o.flag).NoOptDefVal = "true"
		}
	}
}

// loadServeConfig merges defaults, the YAML file, the environment and the
// flags (in rising precedence) and validates the result.
func loadServeConfig(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (*serveConfig, error) {
	env := func(k string) (string, bool) {
		v, ok := lookupEnv(k)
		return v, ok && v != ""
	}
	c := defaultServeConfig()
	path, _ := env("DOCKPACK_CONFIG")
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path = f.Value.String()
	}
	if path != "" {
		if err := c.readYAML(path); err != nil {
			return nil, err
		}
	}
	pins := map[string]bool{}
	for _, p := range c.Pin {
		pins[p] = true
	}
	for i := range serveOptions {
		o := &serveOptions[i]
		var v, src string
		if f := fs.Lookup(o.flag); o.flag != "" && f != nil && f.Changed {
			v, src = f.Value.String(), "flag --"+o.flag
		} else if ev, ok := env(o.env); o.env != "" && ok {
			v, src = ev, "env $"+o.env
		} else {
			continue
		}
		if err := o.set(c, v); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		c.sources[o.key] = src
		if o.setting != "" {
			pins[o.setting] = true
		}
	}
	c.Pin = c.Pin[:0]
	for p := range pins {
		c.Pin = append(c.Pin, p)
	}
	slices.Sort(c.Pin)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// readYAML decodes the file strictly (unknown keys are errors) over c.
func (c *serveConfig) readYAML(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the configuration file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("configuration file %s: %w", path, err)
	}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(b, &top); err == nil {
		for k, n := range top {
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					c.sources[k+"."+n.Content[i].Value] = "file"
				}
				continue
			}
			c.sources[k] = "file"
		}
	}
	return nil
}

// Validate reports what is wrong with the merged configuration.
func (c *serveConfig) Validate() error {
	var errs []error
	if _, _, err := parseListen(c.Listen); err != nil {
		errs = append(errs, err)
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state_dir is empty: the directory that holds state.db (--state-dir)"))
	} else if abs, err := filepath.Abs(c.StateDir); err == nil {
		c.StateDir = abs
	}
	if c.LeaseDuration <= 0 {
		errs = append(errs, fmt.Errorf("lease_duration %s must be positive", c.LeaseDuration))
	}
	for name, d := range map[string]duration{"stall_timeout": c.StallTimeout, "cancel_grace": c.CancelGrace,
		"persist_interval": c.PersistInterval, "sse_keepalive": c.SSEKeepAlive, "shutdown_timeout": c.ShutdownTimeout, "mount.probe_timeout": c.Mount.ProbeTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s must be positive", name, d))
		}
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_body_bytes %d is below 1 KiB: settings updates would not fit", int64(c.MaxBodyBytes)))
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("time_zone %q: %v", c.TimeZone, err))
		}
	}
	editable := jobs.EditableSettings()
	for _, p := range c.Pin {
		if !slices.Contains(editable, p) {
			errs = append(errs, fmt.Errorf("pin: %q is not a setting (one of %s)", p, strings.Join(editable, ", ")))
		}
	}
	if c.Lang != "" && !i18n.Valid(c.Lang) {
		errs = append(errs, fmt.Errorf("lang %q: want one of %s", c.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	if c.Webhook.URL != "" {
		if err := c.webhook().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("webhook: %w", err))
		}
	}
	if len(c.Mount.FSTypes) == 0 && !c.Mount.AnyFSType {
		errs = append(errs, errors.New("mount.fstype is empty: name the filesystem types the target may be on (e.g. cifs,smb3), or set any_fstype"))
	}
	if err := c.policy().Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parseListen splits "host:port" (network tcp) or "unix:///path" (unix).
func parseListen(s string) (network, addr string, err error) {
	if p, ok := strings.CutPrefix(s, "unix://"); ok {
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("listen %q: a unix socket needs an absolute path, e.g. unix:///run/dockpack.sock", s)
		}
		return "unix", p, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", fmt.Errorf("listen %q: want host:port (e.g. 127.0.0.1:8420) or unix:///path: %v", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", "", fmt.Errorf("listen %q: port %q is not a port number", s, port)
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

func (c *serveConfig) policy() mountcheck.Policy {
	return mountcheck.Policy{
		FSTypes:            c.Mount.FSTypes,
		AnyFSType:          c.Mount.AnyFSType,
		AllowRootFS:        c.Mount.AllowRootFS,
		ExpectedMountPoint: c.Mount.ExpectMount,
		ProbeTimeout:       time.Duration(c.Mount.ProbeTimeout),
	}
}

// initialSettings are backup.DefaultSettings with the configured values applied.
func (c *serveConfig) initialSettings() jobs.Settings {
	s := jobs.DefaultSettings()
	sc := c.Settings
	setB := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	sched := func(dst **string, v *string) {
		if v != nil {
			if strings.TrimSpace(*v) == "" {
				*dst = nil
			} else {
				x := *v
				*dst = &x
			}
		}
	}
	setB(&s.Enabled, sc.Enabled)
	setS(&s.TargetMode, sc.TargetMode)
	setS(&s.TargetLocalDir, sc.TargetLocalDir)
	setS(&s.RagflowComposePath, sc.RagflowComposePath)
	setS(&s.RagflowProjectName, sc.RagflowProjectName)
	setB(&s.RagflowStopServices, sc.RagflowStopServices)
	setS(&s.AuthDBPath, sc.AuthDBPath)
	setB(&s.FullBackupEnabled, sc.FullBackupEnabled)
	setB(&s.FullBackupIncludeImages, sc.FullBackupIncludeImages)
	sched(&s.IncrementalSchedule, sc.IncrementalSchedule)
	sched(&s.FullBackupSchedule, sc.FullBackupSchedule)
	if sc.BackupRetentionMax != nil {
		s.BackupRetentionMax = *sc.BackupRetentionMax
	}
	if sc.StopServices != nil {
		s.StopServices = slices.Clone([]string(*sc.StopServices))
	}
	return s
}

// webhook is the backup.WebhookConfig of the configuration (Logger unset).
func (c *serveConfig) webhook() webhook.Config {
	return webhook.Config{URL: c.Webhook.URL, Secret: c.Webhook.Secret, Timeout: time.Duration(c.Webhook.Timeout), MaxAttempts: c.Webhook.MaxAttempts}
}

// lang is the configured language, normalized ("en" by default).
func (c *serveConfig) lang() string {
	l, _ := i18n.Normalize(c.Lang)
	return l
}

// location is the schedules' time zone (validated).
func (c *serveConfig) location() *time.Location {
	if c.TimeZone == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.Local
	}
	return loc
}

// print writes the merged configuration as YAML, secrets redacted, with
// the source of every key that did not come from the defaults.
func (c *serveConfig) print(w io.Writer) error {
	out := *c
	if out.Token != "" {
		out.Token = "<redacted>"
	}
	if out.Webhook.Secret != "" {
		out.Webhook.Secret = "<redacted>"
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&out); err != nil {
		return err
	}
	_ = enc.Close()
	fmt.Fprintln(w, "# dockpack serve: merged configuration (flags > DOCKPACK_* environment > --config file > defaults)")
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	keys := make([]string, 0, len(c.sources))
	for k := range c.sources {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		fmt.Fprintln(w, "# sources (anything else is a default):")
		for _, k := range keys {
			fmt.Fprintf(w, "#   %s: %s\n", k, c.sources[k])
		}
	}
	return nil
}
