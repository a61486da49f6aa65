package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/internal/i18n"
)

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
	editable := settings.Editable()
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
	errs = append(errs, c.JWT.validate()...)
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
