package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/verifier"
	"github.com/dockpack/dockpack/internal/i18n"
	"go.uber.org/zap"
)

// Backend is what the handler serves. *jobs.Manager satisfies it; tests
// use fakes.
type Backend interface {
	Start(ctx context.Context, req jobs.Request) (jobs.Job, error)
	Get(ctx context.Context, id int64) (jobs.Job, error)
	List(ctx context.Context, o jobs.ListOptions) ([]jobs.Job, error)
	Cancel(ctx context.Context, id int64, reason string) (jobs.Job, error)
	Subscribe(ctx context.Context, id int64) (<-chan jobs.Event, error)
	Settings(ctx context.Context) (settings.Settings, error)
	UpdateSettings(ctx context.Context, p settings.Patch) (settings.Settings, error)
	Packs(ctx context.Context) ([]pack.Info, error)
}

// JobLogger is an optional Backend interface: when implemented,
// GET /v1/jobs/{id}/log serves a job's recent log lines.
type JobLogger interface {
	JobLog(ctx context.Context, id int64) ([]jobs.LogLine, error)
}

// LockReporter is an optional Backend interface: when implemented,
// GET /v1/lock shows the lock lease.
type LockReporter interface {
	Lock(ctx context.Context) (jobs.LockInfo, error)
}

// ScheduleReporter is an optional Backend interface: when implemented,
// GET /v1/schedule shows the schedules and their next runs.
type ScheduleReporter interface {
	ScheduleStatus(ctx context.Context) (jobs.ScheduleStatus, error)
}

// Defaults of Options.
const (
	DefaultCompatPrefix = "/api/admin/data-security"
	DefaultMaxBodyBytes = 64 << 10
	DefaultSSEKeepAlive = 15 * time.Second
)

// Options configures New.
type Options struct {
	// Token is the bearer token every route but /healthz requires (at
	// least MinTokenLength characters). Required unless Auth is set.
	Token string
	// Auth replaces the bearer-token check with the embedding application's
	// own middleware (it wraps every route but /healthz). When both are
	// set, Auth wins and Token is not checked.
	Auth func(http.Handler) http.Handler
	// CompatPrefix is where RagFlowAuth's routes live. Default
	// "/api/admin/data-security"; "-" leaves them out.
	CompatPrefix string
	// MaxBodyBytes limits request bodies (413 beyond). Default 64 KiB.
	MaxBodyBytes int64
	// SSEKeepAlive is the interval of keep-alive comments on event streams.
	// Default 15s.
	SSEKeepAlive time.Duration
	// Logger receives request logs (debug) and server-side failures (error).
	// Default zap.NewNop().
	Logger *zap.Logger
	// Extra are more routes, behind the same authentication, keyed by
	// http.ServeMux pattern (e.g. "GET /metrics", or the compat
	// "GET /api/admin/data-security/restore-drills", which then replaces the
	// built-in empty list).
	Extra map[string]http.Handler
	// JWT, when set, also accepts the application's own access tokens of
	// administrators (RagFlowAuth's login) besides Token. Auth replaces both.
	JWT *JWTOptions
	// Lang is the language of the sentences the handler writes itself for
	// people (a compat start refused before a job exists): "en" (default)
	// or "zh-CN". Codes never change.
	Lang string
	// Verifier serves the background verifications of packs the admin
	// page starts and, when it is a RestorePlanner, their restore plans
	// (ui.go). Default: verifier.New of the Backend when it is a
	// *jobs.Manager, else none (the routes are left out).
	Verifier PackVerifier
	// OnStartRefused, when set, is called with the refusal's code each time
	// a compat start is refused before a job exists (metrics); it must not block.
	OnStartRefused func(code string)
}

var prefixRE = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

func (o *Options) applyDefaults() {
	if o.CompatPrefix == "" {
		o.CompatPrefix = DefaultCompatPrefix
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.SSEKeepAlive == 0 {
		o.SSEKeepAlive = DefaultSSEKeepAlive
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Lang == "" {
		o.Lang = i18n.English
	}
	if o.JWT != nil {
		j := *o.JWT // the caller's options stay as they were
		j.applyDefaults()
		o.JWT = &j
	}
}

// ErrInvalidOptions marks Options New cannot work with.
var ErrInvalidOptions = errors.New("invalid httpapi options")

// Validate reports what is wrong with the options (after defaults).
func (o Options) Validate() error {
	var errs []error
	if o.Auth == nil {
		switch {
		case o.Token == "":
			errs = append(errs, errors.New("no bearer token and no Auth middleware: every route but /healthz must be authenticated"))
		case len(o.Token) < MinTokenLength:
			errs = append(errs, fmt.Errorf("the bearer token has %d characters; use at least %d (e.g. 32 random hex digits)", len(o.Token), MinTokenLength))
		case strings.ContainsAny(o.Token, " \t\r\n"):
			errs = append(errs, errors.New("the bearer token contains white space"))
		}
	}
	if o.CompatPrefix != "-" && !prefixRE.MatchString(o.CompatPrefix) {
		errs = append(errs, fmt.Errorf("CompatPrefix %q must look like /api/admin/data-security (no trailing slash, no pattern characters)", o.CompatPrefix))
	}
	if o.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d is negative", o.MaxBodyBytes))
	}
	if o.SSEKeepAlive < 0 {
		errs = append(errs, fmt.Errorf("SSEKeepAlive %v is negative", o.SSEKeepAlive))
	}
	if !i18n.Valid(o.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (want one of %s)", o.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	if o.JWT != nil && o.Auth == nil {
		errs = append(errs, o.JWT.validate()...)
	}
	for p, h := range o.Extra {
		if h == nil {
			errs = append(errs, fmt.Errorf("extra route %q has a nil handler", p))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
}

type handler struct {
	b    Backend
	opts Options
	log  *zap.Logger
	mux  *http.ServeMux // the authenticated routes
	jwt  *jwtAuth       // nil unless Options.JWT (and no Options.Auth)
}

// New returns the API as an http.Handler serving b.
func New(b Backend, o Options) (http.Handler, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: no Backend", ErrInvalidOptions)
	}
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if m, ok := b.(*jobs.Manager); ok && o.Verifier == nil {
		o.Verifier = verifier.New(m)
	}
	h := &handler{b: b, opts: o, log: o.Logger.Named("httpapi"), mux: http.NewServeMux()}
	if o.JWT != nil && o.Auth == nil {
		h.jwt = newJWTAuth(h, *o.JWT)
	}
	if err := h.routes(); err != nil {
		return nil, err
	}
	authn := h.authMiddleware()
	root := http.NewServeMux()
	root.HandleFunc("/healthz", h.healthz)
	h.publicRoutes(root) // ui.go: the admin page's static files (no data, no auth)
	root.Handle("/", authn(h.mux))
	// edge.go: authentication before any redirect, 413 before reading, bodies drained.
	return h.logged(h.recovered(h.edge(root, authn))), nil
}

// routes registers every authenticated route.
func (h *handler) routes() (err error) {
	defer func() {
		// ServeMux panics on conflicting patterns (e.g. a bad Extra key).
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrInvalidOptions, p)
		}
	}()
	m := h.mux
	m.HandleFunc("POST /v1/backups", h.startBackup)
	m.HandleFunc("GET /v1/jobs", h.listJobs)
	m.HandleFunc("GET /v1/jobs/{id}", h.getJob)
	m.HandleFunc("POST /v1/jobs/{id}/cancel", h.cancelJob)
	m.HandleFunc("GET /v1/jobs/{id}/events", h.events)
	m.HandleFunc("GET /v1/packs", h.packs)
	m.HandleFunc("GET /v1/settings", h.getSettings)
	m.HandleFunc("PUT /v1/settings", h.putSettings)
	if _, ok := h.b.(JobLogger); ok {
		m.HandleFunc("GET /v1/jobs/{id}/log", h.jobLog)
	}
	if _, ok := h.b.(LockReporter); ok {
		m.HandleFunc("GET /v1/lock", h.lock)
	}
	if _, ok := h.b.(ScheduleReporter); ok {
		m.HandleFunc("GET /v1/schedule", h.schedule)
	}
	compat := h.opts.CompatPrefix
	if compat == "-" {
		compat = ""
	}
	drills := h.drillRoutes(m, compat) // drills.go: when the Backend is a DrillRunner
	h.restoreRoutes(m, compat)         // restores.go: when the Backend is a LiveRestorer
	h.uiRoutes(m)                      // ui.go: the native routes the admin page needs
	if p := h.opts.CompatPrefix; p != "-" {
		m.HandleFunc("POST "+p+"/backup/run", h.compatRun(false))
		m.HandleFunc("POST "+p+"/backup/run-full", h.compatRun(true))
		m.HandleFunc("GET "+p+"/backup/jobs", h.listJobs)
		m.HandleFunc("GET "+p+"/backup/jobs/{id}", h.getJob)
		m.HandleFunc("POST "+p+"/backup/jobs/{id}/cancel", h.cancelJob)
		m.HandleFunc("GET "+p+"/settings", h.getSettings)
		m.HandleFunc("PUT "+p+"/settings", h.putSettings)
		if !h.extraServes(p+"/restore-drills") && !drills {
			// The page loads drills with settings and jobs and fails as a
			// whole if that request fails: answer an empty list until the
			// drill routes exist (Options.Extra).
			m.HandleFunc("GET "+p+"/restore-drills", h.compatNoDrills)
			m.HandleFunc("POST "+p+"/restore-drills", h.compatDrillsUnavailable)
		}
	}
	keys := make([]string, 0, len(h.opts.Extra))
	for k := range h.opts.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.Handle(k, h.opts.Extra[k])
	}
	m.HandleFunc("/", h.noRoute)
	return nil
}

// extraServes reports whether an Extra pattern serves path (any method).
func (h *handler) extraServes(path string) bool {
	for k := range h.opts.Extra {
		p := k
		if _, rest, ok := strings.Cut(k, " "); ok {
			p = strings.TrimSpace(rest)
		}
		if p == path {
			return true
		}
	}
	return false
}

// isCompat reports whether r is one of RagFlowAuth's routes (their errors
// are {"detail": ...}).
func (h *handler) isCompat(r *http.Request) bool {
	p := h.opts.CompatPrefix
	return p != "-" && (r.URL.Path == p || strings.HasPrefix(r.URL.Path, p+"/"))
}

var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute answers requests no route matched: 405 with Allow when the path
// exists for other methods, else 404, both as JSON.
func (h *handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.fail(w, r, reqErr(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))))
		return
	}
	h.fail(w, r, reqErr(http.StatusNotFound, CodeNotFound, fmt.Sprintf("no route %s %s", r.Method, truncate(r.URL.Path, 200))))
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, reqErr(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "/healthz answers GET and HEAD"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
