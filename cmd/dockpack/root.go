package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
)

// globals are the flags every subcommand shares.
type globals struct {
	logLevel  string
	logFormat string
	lang      string
	logger    *zap.Logger
}

// commands is filled by each command file's init(), so adding a command
// never means editing this file.
var commands []func(g *globals) *cobra.Command

func register(f func(g *globals) *cobra.Command) { commands = append(commands, f) }

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "dockpack",
		Short: "Verified backups (migration packs) of Docker Compose stacks: images, volumes and SQLite",
		Long: `dockpack backs up a Docker Compose project — its images, its named volumes and an
application's SQLite database — into a migration pack on a verified mount, and restores it.
A backup either works or says exactly why not before anything is harmed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			lg, err := newLogger(g.logLevel, g.logFormat)
			if err != nil {
				return usageError{err}
			}
			g.logger = lg
			lang, ok := i18n.Normalize(g.lang)
			if !ok {
				return usageError{fmt.Errorf("--lang %q: want one of %s", g.lang, strings.Join(i18n.Supported(), ", "))}
			}
			g.lang = lang
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", envOr("DOCKPACK_LOG_LEVEL", "info"), "log level: debug, info, warn, error ($DOCKPACK_LOG_LEVEL)")
	pf.StringVar(&g.logFormat, "log-format", envOr("DOCKPACK_LOG_FORMAT", ""), "log format: console or json (default console on a terminal, json otherwise; $DOCKPACK_LOG_FORMAT)")
	pf.StringVar(&g.lang, "lang", envOr("DOCKPACK_LANG", "en"), "language of messages: en or zh-CN ($DOCKPACK_LANG)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, f := range commands {
		root.AddCommand(f(g))
	}
	return root
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func stderrIsTTY() bool { return isatty.IsTerminal(os.Stderr.Fd()) }

// newLogger builds the CLI's logger: readable console logs on a terminal,
// JSON otherwise (or as asked), always to stderr.
func newLogger(level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.Set(level); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	if format == "" {
		format = "json"
		if stderrIsTTY() {
			format = "console"
		}
	}
	if !slices.Contains([]string{"console", "json"}, format) {
		return nil, fmt.Errorf("--log-format %q: want console or json", format)
	}
	var cfg zap.Config
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	return cfg.Build()
}

// openEngine connects to the Docker Engine named by the environment.
func (g *globals) openEngine(ctx context.Context) (*dockerapi.Client, error) {
	return dockerapi.New(ctx, dockerapi.Options{Logger: g.logger, BeforeCreate: testEngineHook(g.logger)})
}

// requireArgs is a cobra.PositionalArgs that turns a wrong count into a usage error.
func requireArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{errors.New("expected " + what)}
		}
		return nil
	}
}
