package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/webhook"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/metrics"
)

func init() { register(newServeCmd) }

func newServeCmd(g *globals) *cobra.Command {
	var printConfig bool
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the backup daemon: job API, RagFlowAuth-compatible routes and schedules",
		Long: `Run dockpack as a daemon: the native JSON API under /v1 (jobs, live progress as
Server-Sent Events, packs, settings), RagFlowAuth's data-security routes under
--compat-prefix, and the schedules stored in the settings.

Configuration comes from flags, then DOCKPACK_* environment variables, then the YAML
file named by --config, then defaults; --print-config shows the merged result with
secrets redacted. The settings the UI edits live in the state DB (<state-dir>/state.db);
the configuration gives their initial values, and a setting given by a flag or a
variable, or listed under "pin:" in the file, is pinned: the UI cannot change it.

GET /metrics serves Prometheus metrics (last success, per-component bytes and durations,
failures by error code, the job in progress, the lock holder's age); --metrics=false turns
it off. --webhook-url (or $DOCKPACK_WEBHOOK_URL, YAML webhook.url) receives a POST of each
finished job's JSON, signed with $DOCKPACK_WEBHOOK_SECRET when set, retried with backoff;
it never blocks or fails a job. Logs are JSON lines (zap) unless --log-format console.

Every route but /healthz needs "Authorization: Bearer <token>". The token comes from
--token-file or $DOCKPACK_TOKEN; without either it is read from <state-dir>/token, which
is generated (mode 0600) on first start; its path is logged, never the token.
With --jwt-secret-file (or $DOCKPACK_JWT_SECRET) the application's own access tokens
are accepted too (RagFlowAuth's login: HS256, type access, exp checked), for the users
it calls administrators: --jwt-admins, and/or --jwt-admin-query ragflowauth (a read-only
lookup of users.role in its database, --jwt-admin-db or the auth_db_path setting);
anyone else gets 403 admin_required. See docs/ragflowauth.md.

SIGTERM or SIGINT: stop accepting requests, cancel the running backup and clean up
(restart stopped services, remove the partial pack) — or, with --wait-on-shutdown, let
it finish — then exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadServeConfig(cmd.Flags(), os.LookupEnv)
			if err != nil {
				return usageError{err}
			}
			if cmd.Flags().Changed("lang") { // the global flag outranks $DOCKPACK_LANG and the file
				if !i18n.Valid(g.lang) {
					return usageError{fmt.Errorf("--lang %q: want one of %s", g.lang, strings.Join(i18n.Supported(), ", "))}
				}
				cfg.Lang, cfg.sources["lang"] = g.lang, "flag --lang"
			}
			if printConfig {
				return cfg.print(cmd.OutOrStdout())
			}
			lg := g.logger
			if g.logFormat == "" { // the daemon logs JSON unless asked otherwise
				if lg, err = newLogger(g.logLevel, "json"); err != nil {
					return usageError{err}
				}
			}
			defer func() { _ = lg.Sync() }()
			return runServe(cmd.Context(), lg, cfg)
		},
	}
	cmd.Flags().BoolVar(&printConfig, "print-config", false, "print the merged configuration as YAML (secrets redacted) and exit")
	bindServeFlags(cmd.Flags())
	return cmd
}

// runServe runs the daemon until ctx ends (SIGTERM/SIGINT), then shuts down.
func runServe(ctx context.Context, log *zap.Logger, cfg *serveConfig) error {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create the state directory: %w", err)
	}
	token, err := resolveToken(ctx, log, cfg)
	if err != nil {
		return err
	}
	eng, err := dockerapi.New(ctx, dockerapi.Options{Logger: log.Named("engine"), BeforeCreate: testEngineHook(log)})
	if err != nil {
		return err
	}
	defer eng.Close()

	n, err := newNotifiers(ctx, log, cfg)
	if err != nil {
		return err
	}
	wh, col := n.wh, n.col
	// The manager outlives the signal: shutting down is its Close's job.
	mgr, err := jobs.NewManager(context.WithoutCancel(ctx), cfg.managerConfig(eng, log, n))
	if err != nil {
		closeWebhook(ctx, log, wh)
		return err
	}
	h, err := newAPIHandler(log, cfg, mgr, col, token)
	if err != nil {
		_ = mgr.Close(ctx)
		closeWebhook(ctx, log, wh)
		return err
	}
	ln, err := listen(cfg.Listen)
	if err != nil {
		_ = mgr.Close(ctx)
		closeWebhook(ctx, log, wh)
		return err
	}
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := newHTTPServer(baseCtx, log, h)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("dockpack daemon listening", zap.String("addr", ln.Addr().Network()+"://"+ln.Addr().String()),
		zap.String("state_dir", cfg.StateDir), zap.String("compat_prefix", cfg.CompatPrefix), zap.Strings("pinned", cfg.Pin),
		zap.String("version", backup.Version), zap.String("lang", cfg.lang()), zap.Bool("metrics", col != nil), zap.Bool("webhook", wh != nil))

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		_ = mgr.Close(context.WithoutCancel(ctx))
		closeWebhook(ctx, log, wh)
		return fmt.Errorf("the HTTP server stopped: %w", err)
	}
	err = shutdown(ctx, log, cfg, srv, mgr, cancelBase)
	closeWebhook(ctx, log, wh) // after the manager: the last job's end is notified too
	return err
}

// newAPIHandler is the HTTP API of the daemon: the daemon's token and, when
// configured, the application's access tokens of administrators; the
// metrics behind the same authentication.
func newAPIHandler(log *zap.Logger, cfg *serveConfig, mgr *jobs.Manager, col *metrics.Collector, token string) (http.Handler, error) {
	jwtOpts, err := cfg.JWT.options(log, mgr)
	if err != nil {
		return nil, err
	}
	o := httpapi.Options{
		Token:        token,
		CompatPrefix: cfg.CompatPrefix,
		MaxBodyBytes: int64(cfg.MaxBodyBytes),
		SSEKeepAlive: time.Duration(cfg.SSEKeepAlive),
		Logger:       log,
		Extra:        map[string]http.Handler{},
		JWT:          jwtOpts,
		Lang:         cfg.lang(),
	}
	if col != nil {
		col.Attach(mgr)
		o.Extra["GET /metrics"] = col.Handler() // behind the bearer token, like every route but /healthz
		o.OnStartRefused = col.StartRefused
	}
	h, err := httpapi.New(mgr, o)
	if err != nil {
		return nil, usageError{err}
	}
	return h, nil
}

// notifiers are the job-end notifications and the metrics: both fed by
// OnJobEnd, neither can block or fail a job. Either may be nil.
type notifiers struct {
	wh  *webhook.Sender
	col *metrics.Collector
}

func newNotifiers(ctx context.Context, log *zap.Logger, cfg *serveConfig) (*notifiers, error) {
	n := &notifiers{}
	if cfg.Webhook.URL != "" {
		wcfg := cfg.webhook()
		wcfg.Logger = log
		var err error
		if n.wh, err = webhook.New(ctx, wcfg); err != nil {
			return nil, usageError{err}
		}
	}
	if cfg.Metrics {
		mo := metrics.Options{Version: backup.Version}
		if n.wh != nil {
			mo.Webhook = n.wh.Stats
		}
		n.col = metrics.New(mo)
	}
	return n, nil
}

func (n *notifiers) jobEnded(j jobs.Job) {
	if n.col != nil {
		n.col.JobEnded(j)
	}
	if n.wh != nil {
		n.wh.Notify(j)
	}
}

// managerConfig is the job manager's configuration.
func (c *serveConfig) managerConfig(eng *dockerapi.Client, log *zap.Logger, n *notifiers) jobs.Config {
	mcfg := jobs.Config{
		StateDir:            c.StateDir,
		Engine:              eng,
		Settings:            c.initialSettings(),
		Pinned:              c.Pin,
		Policy:              c.policy(),
		StagingDir:          c.StagingDir,
		LeaseDuration:       time.Duration(c.LeaseDuration),
		StallTimeout:        time.Duration(c.StallTimeout),
		ImagesFirstByteRate: int64(c.ImagesFirstByteRate),
		CancelGrace:         time.Duration(c.CancelGrace),
		PersistInterval:     time.Duration(c.PersistInterval),
		Location:            c.location(),
		WaitOnClose:         c.WaitOnShutdown,
		DisableScheduler:    c.DisableScheduler,
		Logger:              log,
		Hooks:               testHooks(log), // none in the production binary
		OnJobEnd:            n.jobEnded,
		Lang:                c.lang(),
	}
	if n.col != nil {
		mcfg.Run = n.col.WrapRun(nil) // backup.Run, instrumented
	}
	return mcfg
}

// newHTTPServer serves h with requests' contexts derived from baseCtx.
func newHTTPServer(baseCtx context.Context, log *zap.Logger, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: event streams are long-lived (each SSE write has its own deadline).
		BaseContext: func(net.Listener) context.Context { return baseCtx },
		ErrorLog:    zap.NewStdLog(log.Named("http")),
	}
}

// webhookCloseTimeout bounds the delivery of queued notifications at exit.
const webhookCloseTimeout = 10 * time.Second

// closeWebhook delivers the queued notifications (bounded) and stops wh.
func closeWebhook(ctx context.Context, log *zap.Logger, wh *webhook.Sender) {
	if wh == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), webhookCloseTimeout)
	defer cancel()
	if err := wh.Close(cctx); err != nil {
		log.Warn("webhook notifications left undelivered at exit", zap.Error(err))
	}
}

// shutdown stops accepting requests, closes the manager (canceling and
// cleaning up the running job, or waiting for it) and ends the remaining
// requests. A second SIGTERM/SIGINT stops waiting.
func shutdown(ctx context.Context, log *zap.Logger, cfg *serveConfig, srv *http.Server, mgr *jobs.Manager, cancelBase context.CancelFunc) error {
	log.Info("shutting down: no new requests", zap.Bool("wait_for_running_backup", cfg.WaitOnShutdown))
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)

	closeCtx, cancelClose := context.WithCancel(context.WithoutCancel(ctx))
	if !cfg.WaitOnShutdown {
		closeCtx, cancelClose = context.WithTimeout(context.WithoutCancel(ctx), time.Duration(cfg.ShutdownTimeout))
	}
	defer cancelClose()
	go func() {
		select {
		case <-again:
			log.Warn("second signal: not waiting any longer")
			cancelClose()
		case <-closeCtx.Done():
		}
	}()

	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(context.WithoutCancel(ctx)) }() // closes the listeners at once
	closeErr := mgr.Close(closeCtx)
	if closeErr != nil {
		log.Error("closing the job manager", zap.Error(closeErr))
	}
	cancelBase() // ends event streams and whatever still runs
	select {
	case err := <-httpDone:
		if err != nil {
			log.Warn("HTTP shutdown", zap.Error(err))
		}
	case <-time.After(5 * time.Second):
		_ = srv.Close()
	}
	if closeErr != nil {
		return fmt.Errorf("shutdown: %w", closeErr)
	}
	log.Info("stopped")
	return nil
}

// listen opens the listener of "host:port" or "unix:///path". A stale
// socket file (nobody answers on it) is replaced; a live one is an error.
func listen(spec string) (net.Listener, error) {
	network, addr, err := parseListen(spec)
	if err != nil {
		return nil, usageError{err}
	}
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("listen on %s: the path exists and is not a socket; remove it or choose another path", addr)
			}
			if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("listen on %s: another process is serving on this socket", addr)
			}
			if err := os.Remove(addr); err != nil {
				return nil, fmt.Errorf("remove the stale socket %s: %w", addr, err)
			}
		}
		ln, err := net.Listen("unix", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on unix socket %s: %w", addr, err)
		}
		if err := os.Chmod(addr, 0o660); err != nil {
			ln.Close()
			return nil, fmt.Errorf("chmod the socket %s: %w", addr, err)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// tokenFileName is the generated token's file in the state directory.
const tokenFileName = "token"

// resolveToken finds the bearer token: $DOCKPACK_TOKEN (or the config's
// token), else --token-file, else <state-dir>/token, generated (0600) when
// missing. The path is logged; the token never is.
func resolveToken(ctx context.Context, log *zap.Logger, cfg *serveConfig) (string, error) {
	check := func(tok, from string) (string, error) {
		tok = strings.TrimSpace(tok)
		if len(tok) < httpapi.MinTokenLength || strings.ContainsAny(tok, " \t\r\n") {
			return "", usageError{fmt.Errorf("the bearer token from %s must be at least %d characters without white space", from, httpapi.MinTokenLength)}
		}
		return tok, nil
	}
	if cfg.Token != "" {
		log.Info("bearer token from the configuration ($DOCKPACK_TOKEN or the config file)")
		return check(cfg.Token, "$DOCKPACK_TOKEN / the config file")
	}
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return "", fmt.Errorf("read the token file: %w", err)
		}
		if fi, err := os.Stat(cfg.TokenFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the token file is readable by other users; chmod 600 it", zap.String("token_file", cfg.TokenFile))
		}
		log.Info("bearer token from file", zap.String("token_file", cfg.TokenFile))
		return check(string(b), cfg.TokenFile)
	}
	path := filepath.Join(cfg.StateDir, tokenFileName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		log.Info("bearer token from file", zap.String("token_file", path))
		return check(string(b), path)
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("read the token file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := fsutil.WriteFileAtomic(ctx, path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the generated token: %w", err)
	}
	log.Info("generated a bearer token: send it as Authorization: Bearer <token>", zap.String("token_file", path))
	return tok, nil
}
