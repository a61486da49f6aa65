// Package metrics exposes dockpack's job system to Prometheus: the daemon
// serves it at GET /metrics (behind the API's bearer token).
//
// Metrics come from three places:
//   - the jobs this process finishes (Collector.JobEnded, wired as
//     jobs.Config.OnJobEnd): counts by status and failures by error code;
//   - the backups this process runs (Collector.WrapRun around
//     jobs.Config.Run): live progress, and the duration and bytes of
//     each component of the last successful backup (a store backup: the
//     bytes read, new and reused per component, live and of the last
//     success);
//   - the state DB at scrape time (Collector.Attach(manager)): the last
//     success, the last job's outcome, the lock (held, stale, holder age,
//     lease left) and the schedules — so they survive restarts and cover jobs
//     run by another process sharing the state DB.
//
// The exposition is produced by the Prometheus client library: each scrape
// builds constant metrics from the sources above (bound to the scrape
// request's context) and serves them with promhttp.
package metrics

import (
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/webhook"
)

// Source is what the collector reads at scrape time; *jobs.Manager
// satisfies it.
type Source interface {
	Lock(ctx context.Context) (jobs.LockInfo, error)
	List(ctx context.Context, o jobs.ListOptions) ([]jobs.Job, error)
	ScheduleStatus(ctx context.Context) (jobs.ScheduleStatus, error)
}

// RunFunc is the signature of backup.Run (and of jobs.Config.Run).
type RunFunc = func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error)

// Options configures New. Zero values take the defaults.
type Options struct {
	// Version is reported by dockpack_build_info. Default backup.Version.
	Version string
	// ScrapeTimeout bounds the state-DB reads of one scrape. Default 5s.
	ScrapeTimeout time.Duration
	// Webhook, when set, reports the webhook's delivery counters.
	Webhook func() webhook.Stats
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Collector gathers dockpack's metrics; its methods are safe for concurrent use.
type Collector struct {
	o Options

	mu        sync.Mutex
	src       Source
	ended     map[[2]string]float64 // status, kind → count
	failures  map[string]float64    // error code → count
	refused   map[string]float64    // refusal code → count (starts refused before a job existed)
	running   bool
	progress  progress.Report
	lastOK    *backup.Result
	lastOKAt  time.Time
	startedAt time.Time
}

// New returns a collector; Attach gives it its Source.
func New(o Options) *Collector {
	if o.Version == "" {
		o.Version = backup.Version
	}
	if o.ScrapeTimeout == 0 {
		o.ScrapeTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Collector{o: o, ended: map[[2]string]float64{}, failures: map[string]float64{}, refused: map[string]float64{}}
}

// Attach sets the source read at scrape time (the Manager exists only after
// its config, which holds JobEnded and WrapRun, was built).
func (c *Collector) Attach(src Source) {
	c.mu.Lock()
	c.src = src
	c.mu.Unlock()
}

// JobEnded records a finished job; it never blocks (use it as, or inside,
// jobs.Config.OnJobEnd).
func (c *Collector) JobEnded(j jobs.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended[[2]string{string(j.Status), string(j.Kind)}]++
	if j.Status == jobs.StatusFailed {
		code := "failed"
		if j.ErrorCode != nil && *j.ErrorCode != "" {
			code = *j.ErrorCode
		}
		c.failures[code]++
	}
}

// StartRefused records a start refused before a job existed (its
// prechecks failed); it never blocks (httpapi.Options.OnStartRefused).
func (c *Collector) StartRefused(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused[code]++
}

// WrapRun returns run (backup.Run when nil) instrumented: its progress feeds
// the in-progress gauges, and a successful result the per-component metrics
// of the last success. Progress still reaches the caller's ProgressFunc.
func (c *Collector) WrapRun(run RunFunc) RunFunc {
	if run == nil {
		run = backup.Run
	}
	return func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		c.mu.Lock()
		c.running, c.progress, c.startedAt = true, progress.Report{}, c.o.Now()
		c.mu.Unlock()
		res, err := run(ctx, spec, func(pr progress.Report) {
			c.mu.Lock()
			c.progress = pr
			c.mu.Unlock()
			if p != nil {
				p(pr)
			}
		})
		c.mu.Lock()
		c.running = false
		if err == nil && res != nil {
			c.lastOK, c.lastOKAt = res, c.o.Now()
		}
		c.mu.Unlock()
		return res, err
	}
}

// Handler serves the metrics (GET and HEAD) through promhttp; the state DB
// is read with the scrape request's context.
func (c *Collector) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		promhttp.HandlerFor(c.registry(r.Context()), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
	})
}

// ContentType is the media type Write produces (the text exposition format).
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// registry is a one-scrape registry holding a collector bound to ctx.
func (c *Collector) registry(ctx context.Context) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(scrape{c: c, ctx: ctx})
	return reg
}

// scrape adapts one scrape of the Collector to prometheus.Collector. It is
// unchecked (Describe sends nothing): which series exist depends on the state.
type scrape struct {
	c   *Collector
	ctx context.Context
}

func (s scrape) Describe(chan<- *prometheus.Desc) {}

func (s scrape) Collect(ch chan<- prometheus.Metric) {
	var e exposition
	s.c.build(s.ctx, &e)
	for _, m := range e.metrics {
		ch <- m
	}
}

// componentOfKind maps a pack file kind to its component label.
var componentOfKind = map[pack.FileKind]string{
	pack.FileSQLite: "db", pack.FileVolume: "volumes", pack.FileImages: "images", pack.FileCompose: "compose",
}

// componentOfStep maps a backup step to its component label.
var componentOfStep = map[progress.Step]string{
	progress.StepPrecheck: "precheck", progress.StepSQLite: "db", progress.StepVolumes: "volumes", progress.StepImages: "images",
	progress.StepCompose: "compose", progress.StepManifest: "manifest", progress.StepFinalize: "finalize",
}

// Write writes every metric in the text exposition format.
func (c *Collector) Write(ctx context.Context, w io.Writer) error {
	mfs, err := c.registry(ctx).Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// build computes every metric of one scrape.
func (c *Collector) build(ctx context.Context, e *exposition) {
	c.mu.Lock()
	src := c.src
	e.gauge("dockpack_build_info", "dockpack's version (always 1).", 1, "version", c.o.Version)
	e.help("dockpack_jobs_ended_total", "counter", "Backup jobs this process finished, by final status and kind.")
	for _, k := range sortedKeys2(c.ended) {
		e.sample("dockpack_jobs_ended_total", c.ended[k], "status", k[0], "kind", k[1])
	}
	e.help("dockpack_job_failures_total", "counter", "Failed backup jobs this process finished, by error code.")
	for _, k := range sortedKeys(c.failures) {
		e.sample("dockpack_job_failures_total", c.failures[k], "error_code", k)
	}
	e.help("dockpack_start_refusals_total", "counter", "Backup starts refused before a job existed (failed prechecks), by code.")
	for _, k := range sortedKeys(c.refused) {
		e.sample("dockpack_start_refusals_total", c.refused[k], "code", k)
	}
	running := c.running
	e.gauge("dockpack_job_running_here", "1 while this process runs a backup.", b2f(running))
	if running {
		p := c.progress
		e.gauge("dockpack_job_progress_percent", "Progress of the backup this process runs (0-100).", float64(p.Percent))
		e.gauge("dockpack_job_progress_bytes", "Bytes written by the backup this process runs.", float64(p.BytesDone))
		e.gauge("dockpack_job_progress_bytes_estimate", "Estimated total bytes of the backup this process runs.", float64(p.BytesTotal))
		e.gauge("dockpack_job_running_seconds", "Age of the backup this process runs.", c.o.Now().Sub(c.startedAt).Seconds())
		if len(p.Store) > 0 {
			e.help("dockpack_job_store_bytes", "gauge", "Bytes the store backup this process runs read, added (new: as stored, compressed; new_raw: their plaintext) and reused so far, by component.")
			for _, comp := range sortedKeysOf(p.Store) {
				storeSamples(e, "dockpack_job_store_bytes", comp, p.Store[comp])
			}
		}
	}
	if res := c.lastOK; res != nil {
		bytesBy := map[string]float64{}
		if res.Manifest != nil {
			for _, f := range res.Manifest.Files {
				if comp, ok := componentOfKind[f.Kind]; ok {
					bytesBy[comp] += float64(f.Size)
				}
			}
		}
		e.help("dockpack_last_success_component_bytes", "gauge", "Bytes of each component in the last pack this process wrote.")
		for _, k := range sortedKeys(bytesBy) {
			e.sample("dockpack_last_success_component_bytes", bytesBy[k], "component", k)
		}
		durBy := map[string]float64{}
		for st, d := range res.Steps {
			comp, ok := componentOfStep[st]
			if !ok {
				comp = string(st)
			}
			durBy[comp] += d.Seconds()
		}
		e.help("dockpack_last_success_component_duration_seconds", "gauge", "Wall time of each step of the last pack this process wrote.")
		for _, k := range sortedKeys(durBy) {
			e.sample("dockpack_last_success_component_duration_seconds", durBy[k], "component", k)
		}
		if len(res.Store) > 0 {
			sp := res.Store.Progress()
			e.help("dockpack_last_success_store_bytes", "gauge", "Bytes the last store pack this process wrote read, added to the store (new: as stored, compressed; new_raw: their plaintext) and reused from it, by component.")
			for _, comp := range sortedKeysOf(sp) {
				storeSamples(e, "dockpack_last_success_store_bytes", comp, sp[comp])
			}
		}
	}
	c.mu.Unlock()

	if c.o.Webhook != nil {
		s := c.o.Webhook()
		e.help("dockpack_webhook_notifications_total", "counter", "Job-end webhook notifications, by result.")
		e.sample("dockpack_webhook_notifications_total", float64(s.Delivered), "result", "delivered")
		e.sample("dockpack_webhook_notifications_total", float64(s.Failed), "result", "failed")
		e.sample("dockpack_webhook_notifications_total", float64(s.Dropped), "result", "dropped")
		e.counter("dockpack_webhook_retries_total", "Webhook attempts that were retried.", float64(s.Retries))
	}
	if src != nil {
		c.writeState(ctx, e, src)
	}
}

// writeState adds what the state DB says (shared by every process using it).
func (c *Collector) writeState(ctx context.Context, e *exposition, src Source) {
	ctx, cancel := context.WithTimeout(ctx, c.o.ScrapeTimeout)
	defer cancel()
	now := c.o.Now()
	up := 1.0
	if l, err := src.Lock(ctx); err != nil {
		up = 0
	} else {
		e.gauge("dockpack_lock_held", "1 while a live backup holds the lock (in any process sharing the state DB).", b2f(l.Held))
		e.gauge("dockpack_lock_stale", "1 while a lock row is left by a dead or expired owner (the next start takes it over).", b2f(l.Stale))
		e.gauge("dockpack_job_in_progress", "1 while a backup job holds the lock.", b2f(l.Held))
		if l.Held || l.Stale {
			e.gauge("dockpack_lock_holder_age_seconds", "Time since the lock's holder acquired it.", now.Sub(l.AcquiredAt).Seconds())
			e.gauge("dockpack_lock_lease_remaining_seconds", "Time until the lock's lease expires (negative: expired).", l.ExpiresAt.Sub(now).Seconds())
		}
	}
	if ok, err := src.List(ctx, jobs.ListOptions{Limit: 1, Status: jobs.StatusCompleted}); err != nil {
		up = 0
	} else if len(ok) == 1 {
		j := ok[0]
		if j.FinishedAtMs != nil {
			e.gauge("dockpack_last_success_timestamp_seconds", "When the last successful backup finished (Unix time).", float64(*j.FinishedAtMs)/1000)
			if j.StartedAtMs != nil {
				e.gauge("dockpack_last_success_duration_seconds", "Duration of the last successful backup.", float64(*j.FinishedAtMs-*j.StartedAtMs)/1000)
			}
		}
		e.gauge("dockpack_last_success_bytes", "Bytes written by the last successful backup.", float64(j.BytesDone))
	}
	if recent, err := src.List(ctx, jobs.ListOptions{Limit: 20}); err != nil {
		up = 0
	} else {
		for _, j := range recent {
			if j.Status.Active() || j.FinishedAtMs == nil {
				continue
			}
			e.gauge("dockpack_last_job_success", "1 when the last finished backup job completed, 0 when it failed or was canceled.", b2f(j.Status == jobs.StatusCompleted))
			e.gauge("dockpack_last_job_timestamp_seconds", "When the last finished backup job ended (Unix time).", float64(*j.FinishedAtMs)/1000)
			break
		}
	}
	if s, err := src.ScheduleStatus(ctx); err != nil {
		up = 0
	} else {
		e.counter("dockpack_schedule_skipped_total", "Scheduled backups this process skipped because another backup held the lock.", float64(s.SkippedTotal))
		e.help("dockpack_schedule_next_run_timestamp_seconds", "gauge", "Next firing of each active schedule (Unix time).")
		if s.NextIncremental != nil {
			e.sample("dockpack_schedule_next_run_timestamp_seconds", float64(s.NextIncremental.UnixMilli())/1000, "kind", string(jobs.KindIncremental))
		}
		if s.NextFull != nil {
			e.sample("dockpack_schedule_next_run_timestamp_seconds", float64(s.NextFull.UnixMilli())/1000, "kind", string(jobs.KindFull))
		}
	}
	e.gauge("dockpack_state_up", "1 when the last scrape could read the state DB.", up)
}

// storeSamples adds a store backup's bytes of one component (kind read,
// new, new_raw, reused).
func storeSamples(e *exposition, name, comp string, b progress.ComponentBytes) {
	e.sample(name, float64(b.ReadBytes), "component", comp, "kind", "read")
	e.sample(name, float64(b.NewBytes), "component", comp, "kind", "new")
	e.sample(name, float64(b.NewRawBytes), "component", comp, "kind", "new_raw")
	e.sample(name, float64(b.ReusedRawBytes), "component", comp, "kind", "reused")
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedKeys2(m map[[2]string]float64) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	return keys
}

// exposition collects constant metrics; a family's help and type are set by
// its first use.
type exposition struct {
	families map[string]*family
	metrics  []prometheus.Metric
}

type family struct {
	help string
	typ  prometheus.ValueType
}

func (e *exposition) help(name, typ, help string) *family {
	if e.families == nil {
		e.families = map[string]*family{}
	}
	f, ok := e.families[name]
	if !ok {
		vt := prometheus.UntypedValue
		switch typ {
		case "gauge":
			vt = prometheus.GaugeValue
		case "counter":
			vt = prometheus.CounterValue
		}
		f = &family{help: help, typ: vt}
		e.families[name] = f
	}
	return f
}

func (e *exposition) sample(name string, v float64, labels ...string) {
	f := e.help(name, "untyped", "")
	var names, values []string
	for i := 0; i+1 < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	e.metrics = append(e.metrics, prometheus.MustNewConstMetric(prometheus.NewDesc(name, f.help, names, nil), f.typ, v, values...))
}

func (e *exposition) gauge(name, help string, v float64, labels ...string) {
	e.help(name, "gauge", help)
	e.sample(name, v, labels...)
}

func (e *exposition) counter(name, help string, v float64, labels ...string) {
	e.help(name, "counter", help)
	e.sample(name, v, labels...)
}
