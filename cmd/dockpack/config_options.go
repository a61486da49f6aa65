package main

import (
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

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

// opt is an option of type T: parse reads the flag's or variable's text,
// format shows the default in --help.
func opt[T any](typ string, parse func(string) (T, error), format func(T) string) func(key, flag, env, usage string, p func(*serveConfig) *T) cfgOption {
	return func(key, flag, env, usage string, p func(*serveConfig) *T) cfgOption {
		return cfgOption{key: key, flag: flag, env: env, typ: typ, usage: usage,
			set: func(c *serveConfig, v string) error {
				x, err := parse(v)
				*p(c) = x
				return err
			},
			get: func(c *serveConfig) string { return format(*p(c)) }}
	}
}

var (
	optString   = opt("string", func(s string) (string, error) { return strings.TrimSpace(s), nil }, func(s string) string { return s })
	optBool     = opt("bool", parseBool, strconv.FormatBool)
	optDuration = opt("duration", parseDuration, duration.String)
	optBytes    = opt("size", parseByteSize, byteSize.String)
	optInt      = opt("int", parseInt, strconv.Itoa)
	optList     = opt("list", func(s string) (stringList, error) { return splitList(s), nil }, func(l stringList) string { return strings.Join(l, ",") })
)

// serveOptions lists every key settable by flag or environment: the
// daemon's own, then one per setting (from the settings table).
var serveOptions = append(daemonOptions, settingOptions()...)

// daemonOptions are the options that are not settings.
var daemonOptions = []cfgOption{
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
	optInt("webhook.max_attempts", "webhook-max-attempts", "DOCKPACK_WEBHOOK_MAX_ATTEMPTS", "attempts per webhook notification", func(c *serveConfig) *int { return &c.Webhook.MaxAttempts }),
	optList("mount.fstype", "fstype", "DOCKPACK_FSTYPE", "filesystem types the target may be on, comma-separated", func(c *serveConfig) *stringList { return &c.Mount.FSTypes }),
	optBool("mount.any_fstype", "any-fstype", "DOCKPACK_ANY_FSTYPE", "accept the target on any filesystem type", func(c *serveConfig) *bool { return &c.Mount.AnyFSType }),
	optBool("mount.allow_root_fs", "allow-root-fs", "DOCKPACK_ALLOW_ROOT_FS", "accept a target on the root filesystem, i.e. not a mounted share", func(c *serveConfig) *bool { return &c.Mount.AllowRootFS }),
	optString("mount.expect_mount", "expect-mount", "DOCKPACK_EXPECT_MOUNT", "the target must be on exactly this mount point, e.g. /mnt/replica", func(c *serveConfig) *string { return &c.Mount.ExpectMount }),
	optDuration("mount.probe_timeout", "probe-timeout", "DOCKPACK_PROBE_TIMEOUT", "how long the target's write probe may take before the mount counts as hung", func(c *serveConfig) *duration { return &c.Mount.ProbeTimeout }),
	optString("jwt.secret_file", "jwt-secret-file", "DOCKPACK_JWT_SECRET_FILE", "file holding the application's JWT signing key (RagFlowAuth's JWT_SECRET_KEY): its admins' access tokens are accepted", func(c *serveConfig) *string { return &c.JWT.SecretFile }),
	optString("jwt.secret", "", "DOCKPACK_JWT_SECRET", "", func(c *serveConfig) *string { return &c.JWT.Secret }),
	optList("jwt.admins", "jwt-admins", "DOCKPACK_JWT_ADMINS", "user ids (the tokens' sub) that are administrators, comma-separated", func(c *serveConfig) *stringList { return &c.JWT.Admins }),
	optString("jwt.admin_query", "jwt-admin-query", "DOCKPACK_JWT_ADMIN_QUERY", `who else is an administrator: "ragflowauth" (users.role = 'admin', account active), "ragflowauth-session" (and a live login session) or a read-only SELECT with :sub :now :sid :cid`, func(c *serveConfig) *string { return &c.JWT.AdminQuery }),
	optString("jwt.admin_db", "jwt-admin-db", "DOCKPACK_JWT_ADMIN_DB", "the application's database the admin query reads (default: the auth_db_path setting)", func(c *serveConfig) *string { return &c.JWT.AdminDB }),
	optDuration("jwt.leeway", "jwt-leeway", "DOCKPACK_JWT_LEEWAY", "clock skew allowed on a token's exp (0: 30s)", func(c *serveConfig) *duration { return &c.JWT.Leeway }),
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
