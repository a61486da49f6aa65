package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/spf13/pflag"
)

// mustServeConfig parses args as serve's flags, with env as the
// environment and yamlText (if any) as the --config file.
func mustServeConfig(t *testing.T, args []string, env map[string]string, yamlText string) (*serveConfig, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	bindServeFlags(fs)
	if yamlText != "" {
		p := filepath.Join(t.TempDir(), "dockpack.yaml")
		if err := os.WriteFile(p, []byte(yamlText), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", p)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return loadServeConfig(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func TestServeConfigDefaults(t *testing.T) {
	c, err := mustServeConfig(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8420" || c.StateDir != "/var/lib/dockpack" || time.Duration(c.LeaseDuration) != 30*time.Second ||
		c.CompatPrefix != "/api/admin/data-security" || c.MaxBodyBytes != 64<<10 || len(c.Pin) != 0 ||
		strings.Join(c.Mount.FSTypes, ",") != "cifs,smb3" || time.Duration(c.StallTimeout) != 10*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	s := c.initialSettings()
	if !s.Enabled || s.BackupRetentionMax != 30 || s.TargetMode != "local" || s.IncrementalSchedule != nil {
		t.Errorf("default settings: %+v", s)
	}
}

func TestServeConfigPrecedence(t *testing.T) {
	yml := `
listen: 127.0.0.1:9001
lease_duration: 7s
stall_timeout: 1m
state_dir: /srv/dp
mount:
  fstype: nfs4
settings:
  backup_retention_max: 5
  target_local_dir: /mnt/from-yaml
`
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		listen string
		lease  time.Duration
		stall  time.Duration
		target string
	}{
		{"yaml only", nil, nil, "127.0.0.1:9001", 7 * time.Second, time.Minute, "/mnt/from-yaml"},
		{"env over yaml", nil, map[string]string{"DOCKPACK_LISTEN": "127.0.0.1:9002", "DOCKPACK_LEASE_DURATION": "3s", "DOCKPACK_TARGET": "/mnt/env"},
			"127.0.0.1:9002", 3 * time.Second, time.Minute, "/mnt/env"},
		{"flag over env", []string{"--listen", "127.0.0.1:9003", "--lease-duration=2s", "--target", "/mnt/flag"},
			map[string]string{"DOCKPACK_LISTEN": "127.0.0.1:9002", "DOCKPACK_LEASE_DURATION": "3s", "DOCKPACK_TARGET": "/mnt/env"},
			"127.0.0.1:9003", 2 * time.Second, time.Minute, "/mnt/flag"},
		{"empty env is unset", nil, map[string]string{"DOCKPACK_LISTEN": ""}, "127.0.0.1:9001", 7 * time.Second, time.Minute, "/mnt/from-yaml"},
	}
	for _, c := range cases {
		cfg, err := mustServeConfig(t, c.args, c.env, yml)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if cfg.Listen != c.listen || time.Duration(cfg.LeaseDuration) != c.lease || time.Duration(cfg.StallTimeout) != c.stall ||
			cfg.Settings["target_local_dir"] != c.target || cfg.StateDir != "/srv/dp" || strings.Join(cfg.Mount.FSTypes, ",") != "nfs4" {
			t.Errorf("%s: listen %s lease %s stall %s target %s", c.name, cfg.Listen, cfg.LeaseDuration, cfg.StallTimeout, cfg.Settings["target_local_dir"])
		}
	}
	// The config file can come from $DOCKPACK_CONFIG too.
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("listen: 127.0.0.1:9010\n"), 0o600)
	cfg, err := mustServeConfig(t, nil, map[string]string{"DOCKPACK_CONFIG": p}, "")
	if err != nil || cfg.Listen != "127.0.0.1:9010" {
		t.Errorf("$DOCKPACK_CONFIG: %v %+v", err, cfg)
	}
}

func TestServeConfigPins(t *testing.T) {
	yml := `
settings:
  backup_retention_max: 5
  incremental_schedule: "0 3 * * *"
  auth_db_path: /data/auth.db
pin: [auth_db_path]
`
	cfg, err := mustServeConfig(t, []string{"--stop-all", "--stop", "web, worker"}, map[string]string{"DOCKPACK_PROJECT": "ragflow"}, yml)
	if err != nil {
		t.Fatal(err)
	}
	// YAML values are initial values unless listed under pin:; flags and env pin.
	if got := strings.Join(cfg.Pin, ","); got != "auth_db_path,ragflow_project_name,ragflow_stop_services,stop_services" {
		t.Errorf("pins %s", got)
	}
	s := cfg.initialSettings()
	if s.BackupRetentionMax != 5 || s.IncrementalSchedule == nil || *s.IncrementalSchedule != "0 3 * * *" || s.AuthDBPath != "/data/auth.db" ||
		s.RagflowProjectName != "ragflow" || !s.RagflowStopServices || strings.Join(s.StopServices, ",") != "web,worker" {
		t.Errorf("initial settings %+v", s)
	}
	// An empty schedule from the environment clears it.
	cfg, err = mustServeConfig(t, nil, map[string]string{"DOCKPACK_INCREMENTAL_SCHEDULE": " "}, yml)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.initialSettings(); s.IncrementalSchedule != nil {
		t.Errorf("blank schedule from env: %q", *s.IncrementalSchedule)
	}
	if _, err := mustServeConfig(t, nil, nil, "pin: [nonsense]\n"); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("unknown pin: %v", err)
	}
}

func TestServeConfigInvalid(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		yml  string
		want string // in the error
	}{
		{"unknown yaml key", nil, nil, "listen: 127.0.0.1:1\nlistne: x\n", "listne"},
		{"unknown settings key", nil, nil, "settings:\n  interval_minutes: 5\n", "interval_minutes"},
		{"bad yaml duration", nil, nil, "lease_duration: soon\n", "not a duration"},
		{"bad yaml size", nil, nil, "max_body_bytes: lots\n", "not a size"},
		{"not yaml", nil, nil, "listen: [\n", "yaml"},
		{"bad env duration", nil, map[string]string{"DOCKPACK_STALL_TIMEOUT": "x"}, "", "$DOCKPACK_STALL_TIMEOUT"},
		{"bad env bool", nil, map[string]string{"DOCKPACK_STOP_ALL": "maybe"}, "", "$DOCKPACK_STOP_ALL"},
		{"bad env int", nil, map[string]string{"DOCKPACK_BACKUP_RETENTION_MAX": "ten"}, "", "$DOCKPACK_BACKUP_RETENTION_MAX"},
		{"bad flag duration", []string{"--lease-duration", "x"}, nil, "", "lease-duration"},
		{"listen no port", []string{"--listen", "localhost"}, nil, "", "host:port"},
		{"listen bad port", []string{"--listen", "127.0.0.1:http"}, nil, "", "port"},
		{"unix relative", []string{"--listen", "unix://run/x.sock"}, nil, "", "absolute"},
		{"zero lease", []string{"--lease-duration", "0s"}, nil, "", "lease_duration"},
		{"zero keepalive", []string{"--sse-keepalive", "0s"}, nil, "", "sse_keepalive"},
		{"tiny body", []string{"--max-body-bytes", "10"}, nil, "", "max_body_bytes"},
		{"bad zone", []string{"--time-zone", "Mars/Olympus"}, nil, "", "time_zone"},
		{"missing file", []string{"--config", "/nonexistent/dockpack.yaml"}, nil, "", "configuration file"},
		{"empty fstypes", []string{"--fstype", ","}, nil, "", "type"},
	}
	for _, c := range cases {
		_, err := mustServeConfig(t, c.args, c.env, c.yml)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func TestServeConfigUnixListen(t *testing.T) {
	cfg, err := mustServeConfig(t, []string{"--listen", "unix:///run/dockpack.sock"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, a, err := parseListen(cfg.Listen); n != "unix" || a != "/run/dockpack.sock" || err != nil {
		t.Errorf("parseListen: %s %s %v", n, a, err)
	}
}

func TestPrintConfigRedactsAndRoundTrips(t *testing.T) {
	const secret = "s3cr3t-t0ken-value-0123456789"
	yml := "settings:\n  backup_retention_max: 7\n  stop_services: [web]\npin: [stop_services]\n"
	cfg, err := mustServeConfig(t, []string{"--lease-duration", "4s", "--fstype", "tmpfs"}, map[string]string{"DOCKPACK_TOKEN": secret}, yml)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := cfg.print(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, secret) || !strings.Contains(text, "token: <redacted>") {
		t.Errorf("token not redacted:\n%s", text)
	}
	for _, want := range []string{"lease_duration: 4s", "fstype: [tmpfs]", "backup_retention_max: 7", "lease_duration: flag --lease-duration", "token: env $DOCKPACK_TOKEN"} {
		if !strings.Contains(text, want) {
			t.Errorf("print-config lacks %q:\n%s", want, text)
		}
	}
	// The printed YAML (minus the redacted token) reads back to the same configuration.
	back := strings.Replace(text, "token: <redacted>\n", "", 1)
	cfg2, err := mustServeConfig(t, nil, nil, back)
	if err != nil {
		t.Fatalf("the printed config does not read back: %v\n%s", err, back)
	}
	cfg2.Token, cfg2.sources, cfg.sources = cfg.Token, nil, nil
	var a, b bytes.Buffer
	cfg.print(&a)
	cfg2.print(&b)
	if a.String() != b.String() {
		t.Errorf("round trip differs:\n%s\n---\n%s", a.String(), b.String())
	}
}

func TestServeCommandPrintConfig(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"serve", "--print-config", "--listen", "unix:///tmp/x.sock", "--target", "/mnt/t"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "listen: unix:///tmp/x.sock") || !strings.Contains(out.String(), "- target_local_dir") {
		t.Errorf("print-config:\n%s", out.String())
	}
	root = newRootCmd()
	root.SetOut(&out)
	root.SetArgs([]string{"serve", "--listen", "nope"})
	if err := root.Execute(); exitCode(err) != exitUsage {
		t.Errorf("bad --listen: %v (exit %d), want a usage error", err, exitCode(err))
	}
}

func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8420", "unix:///run/x.sock", "[::1]:80", ":0", "unix://", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, a, err := parseListen(s)
		if err == nil && (n != "tcp" && n != "unix" || a == "") {
			t.Errorf("parseListen(%q) = %q %q without error", s, n, a)
		}
	})
}

func FuzzServeConfigYAML(f *testing.F) {
	f.Add("listen: 127.0.0.1:1\n")
	f.Add("settings:\n  backup_retention_max: 5\npin: [enabled]\n")
	f.Add("mount:\n  fstype: a,b\n  probe_timeout: 3s\n")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c := defaultServeConfig()
		if err := c.readYAML(p); err != nil {
			return
		}
		_ = c.Validate() // must not panic
		var out bytes.Buffer
		_ = c.print(&out)
	})
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"65536", "64KiB", "20MiB", "1g", "-1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := parseByteSize(s); err == nil && b < 0 {
			t.Errorf("parseByteSize(%q) = %d", s, b)
		}
	})
}

// Every setting of the table is reachable by its flag, its variable and
// its YAML key, with the same result, and a flag or variable pins it.
func TestServeConfigSettingsFromTable(t *testing.T) {
	sample := map[settings.FieldType]string{settings.TypeBool: "false", settings.TypeInt: "7", settings.TypeServices: "a,b", settings.TypePath: "/srv/x",
		settings.TypeProject: "proj", settings.TypeSchedule: "0 1 * * *", settings.TypeString: "s", settings.TypeChoice: "share",
		settings.TypeTarget: "s3://bucket/site", settings.TypeEndpoint: "http://127.0.0.1:7070"}
	valueOf := func(s settings.Settings, name string) string {
		b, _ := json.Marshal(s)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		return string(m[name])
	}
	for _, f := range settings.Fields() {
		v, ok := sample[f.Type]
		if f.Type == settings.TypeBool {
			v = strconv.FormatBool(f.Default != true) // not the default
		}
		if !ok {
			t.Fatalf("%s: no sample of type %s", f.Name, f.Type)
		}
		yml := fmt.Sprintf("settings:\n  %s: %q\n", f.Name, v)
		if f.Type == settings.TypeBool || f.Type == settings.TypeInt {
			yml = fmt.Sprintf("settings:\n  %s: %s\n", f.Name, v)
		}
		byFlag, err1 := mustServeConfig(t, []string{"--" + f.Flag + "=" + v}, nil, "")
		byEnv, err2 := mustServeConfig(t, nil, map[string]string{f.Env: v}, "")
		byYAML, err3 := mustServeConfig(t, nil, nil, yml)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		want := valueOf(byFlag.initialSettings(), f.Name)
		if want == valueOf(settings.Default(), f.Name) {
			t.Errorf("%s: --%s=%s left the default %s", f.Name, f.Flag, v, want)
		}
		if got := valueOf(byEnv.initialSettings(), f.Name); got != want {
			t.Errorf("%s: $%s gives %s, the flag %s", f.Name, f.Env, got, want)
		}
		if got := valueOf(byYAML.initialSettings(), f.Name); got != want {
			t.Errorf("%s: YAML gives %s, the flag %s", f.Name, got, want)
		}
		if !slices.Equal(byFlag.Pin, []string{f.Name}) || !slices.Equal(byEnv.Pin, []string{f.Name}) || len(byYAML.Pin) != 0 {
			t.Errorf("%s: pins flag %v env %v yaml %v", f.Name, byFlag.Pin, byEnv.Pin, byYAML.Pin)
		}
	}
}
