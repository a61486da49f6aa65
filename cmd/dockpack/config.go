package main

import (
	"time"

	"github.com/dockpack/dockpack/backup/webhook"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

// The configuration of `dockpack serve`, one concept a file:
// config.go the types and defaults, config_values.go the value syntaxes
// (durations, sizes, lists), config_options.go the flag/environment
// options, config_settings.go the UI-editable settings (derived from the
// settings table, jobs.SettingsFields), config_load.go the merge of the
// sources, config_validate.go the checks, config_print.go --print-config.

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
	JWT                 jwtConfig      `yaml:"jwt,omitempty"` // the application's access tokens (config_jwt.go)
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

func (c *serveConfig) policy() mountcheck.Policy {
	return mountcheck.Policy{
		FSTypes:            c.Mount.FSTypes,
		AnyFSType:          c.Mount.AnyFSType,
		AllowRootFS:        c.Mount.AllowRootFS,
		ExpectedMountPoint: c.Mount.ExpectMount,
		ProbeTimeout:       time.Duration(c.Mount.ProbeTimeout),
	}
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
