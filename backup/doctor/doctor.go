package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"golang.org/x/sys/unix"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/textutil"
	"github.com/dockpack/dockpack/mountcheck"
)

// Doctor is the operator's checklist as code: every condition that broke the
// backups of the post-mortem in DESIGN §1 is checked where dockpack runs (on
// the host, or inside its container), and each check reports a verdict, the
// evidence it saw and the fix. It writes nothing but a tiny probe file on the
// target and in the staging directory, and never opens a Manager (which would
// run recovery): the lock and the jobs come from a StateSource — a
// *Manager, a StateReader (the state DB opened read-only) or a daemon's API.

// Verdict is the outcome of one doctor check.
type Verdict string

// Verdicts, from best to worst. A skipped check (its inputs were not given)
// does not count towards the report's verdict.
const (
	VerdictSkip Verdict = "skip"
	VerdictOK   Verdict = "ok"
	VerdictWarn Verdict = "warn"
	VerdictFail Verdict = "fail"
)

func (v Verdict) severity() int {
	switch v {
	case VerdictOK:
		return 1
	case VerdictWarn:
		return 2
	case VerdictFail:
		return 3
	}
	return 0
}

// Worse returns the worse of v and w (skip < ok < warn < fail).
func (v Verdict) Worse(w Verdict) Verdict {
	if w.severity() > v.severity() {
		return w
	}
	return v
}

// Names of the doctor checks, in report order.
const (
	CheckTarget   = "target"    // the target mount: fstype, root fs, expected mount point, free space, write probe
	CheckRootFS   = "root-fs"   // free space on the root filesystem where dockpack runs
	CheckStaging  = "staging"   // the local staging directory: exists, writable, room for the SQLite snapshot
	CheckSQLite   = "sqlite"    // the application's database: readable, WAL needs its directory writable
	CheckEngine   = "engine"    // the Docker Engine: reachable, version, API, image store
	CheckDataRoot = "data-root" // free space under the engine's data root (graph-driver image exports stage there)
	CheckStack    = "stack"     // the compose project: containers, images, volumes and what a pack leaves out
	CheckLock     = "lock"      // the lease lock: free, held (by which job, host, pid, lease left) or stale
	CheckJobs     = "jobs"      // the last jobs and their errors
	CheckPacks    = "packs"     // complete, invalid and partial packs in the target
)

// DoctorChecks lists the check names in report order.
func Checks() []string {
	return []string{CheckTarget, CheckRootFS, CheckStaging, CheckSQLite, CheckEngine, CheckDataRoot, CheckStack, CheckLock, CheckJobs, CheckPacks}
}

// Evidence is one fact a check saw.
type Evidence struct {
	Key   string `json:"key"`   // stable machine name, e.g. "fstype"
	Label string `json:"label"` // Key in the report's language
	Value string `json:"value"`
}

// DoctorCheck is the outcome of one check.
type Check struct {
	Name    string  `json:"name"`  // one of the Check* names (stable)
	Title   string  `json:"title"` // in the report's language
	Verdict Verdict `json:"verdict"`
	// Code names the finding (stable, the same in every language): "ok",
	// "skipped", an ErrorCode value such as "target_wrong_fstype", or a
	// doctor code such as "lock_stale" or "stale_partial".
	Code     string     `json:"code"`
	Summary  string     `json:"summary"` // one line, in the report's language
	Evidence []Evidence `json:"evidence"`
	Fix      string     `json:"fix,omitempty"` // what to do, in the report's language
	// Detail is the underlying error as the library reported it (English).
	Detail     string `json:"detail,omitempty"`
	DurationMs int64  `json:"duration_ms"`
}

// DoctorReport is the result of Doctor.
type Report struct {
	// Verdict is the worst verdict of the checks (skipped ones aside).
	Verdict Verdict   `json:"verdict"`
	Lang    string    `json:"lang"`
	Host    string    `json:"host"`
	At      time.Time `json:"at"`
	Checks  []Check   `json:"checks"`
	// EstimateBytes is the pack size estimate the space checks used (0: unknown).
	EstimateBytes int64 `json:"estimate_bytes"`
}

// Check returns the check named name.
func (r *Report) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// DoctorEngine is what Doctor needs from the Docker Engine (*dockerapi.Client
// satisfies it).
type Engine interface {
	Info(ctx context.Context) (dockerapi.EngineInfo, error)
	ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error)
	ImagesUniqueBytes(ctx context.Context, images []dockerapi.Image) (int64, error)
}

// StateSource is where Doctor reads the lock and the recent jobs: a
// *Manager, a *StateReader (the state DB, read-only) or a client of a
// daemon's API.
type StateSource interface {
	Lock(ctx context.Context) (jobs.LockInfo, error)
	List(ctx context.Context, o jobs.ListOptions) ([]jobs.Job, error)
}

// DoctorOptions says what Doctor checks. Every input is optional: a check
// whose input is missing is reported as skipped, saying what to give.
type Options struct {
	// Engine is the Docker Engine; nil skips engine, data-root and stack.
	Engine Engine
	// Project is the compose project; "" skips the stack check.
	Project string
	// Target is the directory that receives packs; "" skips target and packs.
	Target string
	// Policy is what the target mount must satisfy (as for a backup).
	Policy mountcheck.Policy
	// StagingDir is the local scratch directory of SQLite snapshots. Default os.TempDir().
	StagingDir string
	// SQLitePath is the application's database; "" skips the sqlite check.
	SQLitePath string
	// Components the backups include (sizes the estimate). Default: volumes
	// and images, plus db when SQLitePath is set.
	Components []pack.Component
	// State is where the lock and jobs are read; nil skips lock and jobs.
	State StateSource
	// StateDesc says where State reads from (shown as evidence), e.g.
	// "state DB /var/lib/dockpack/state.db" or "daemon http://127.0.0.1:8420".
	// With State nil it says what was looked for and not found.
	StateDesc string
	// Lang is the language of titles, summaries, labels and fixes ("en",
	// "zh-CN"); codes and evidence values are never translated. Default "en".
	Lang string
	// RootWarnFree and RootFailFree are the free-space thresholds of the root
	// filesystem. Defaults 5 GiB and 1 GiB.
	RootWarnFree uint64
	RootFailFree uint64
	// SpaceMargin multiplies the estimate for the target's free-space check. Default 1.1.
	SpaceMargin float64
	// PartialStaleAfter: a .partial-* pack directory older than this is a
	// leftover (warn). Default 1h.
	PartialStaleAfter time.Duration
	// Jobs is how many recent jobs are shown. Default 5.
	Jobs int
	// CheckTimeout bounds each check (a hung mount or engine). Default 30s.
	CheckTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o *Options) applyDefaults() {
	if o.StagingDir == "" {
		o.StagingDir = os.TempDir()
	}
	o.SQLitePath = fsutil.Abs(o.SQLitePath)
	o.Target = fsutil.Abs(o.Target)
	if o.Components == nil {
		o.Components = []pack.Component{pack.ComponentVolumes, pack.ComponentImages}
		if o.SQLitePath != "" {
			o.Components = append([]pack.Component{pack.ComponentDB}, o.Components...)
		}
	}
	if o.Lang == "" {
		o.Lang = i18n.English
	}
	o.Lang, _ = i18n.Normalize(o.Lang)
	if o.RootWarnFree == 0 {
		o.RootWarnFree = 5 << 30
	}
	if o.RootFailFree == 0 {
		o.RootFailFree = 1 << 30
	}
	if o.SpaceMargin == 0 {
		o.SpaceMargin = 1.1
	}
	if o.PartialStaleAfter == 0 {
		o.PartialStaleAfter = time.Hour
	}
	if o.Jobs == 0 {
		o.Jobs = 5
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Target != "" {
		if abs, err := filepath.Abs(o.Target); err == nil {
			o.Target = abs
		}
	}
}

// Validate reports what is wrong with the options (after defaults).
func (o Options) Validate() error {
	var errs []error
	if o.Lang != "" && !i18n.Valid(o.Lang) {
		errs = append(errs, fmt.Errorf("language %q is not supported (one of %s)", o.Lang, strings.Join(i18n.Supported(), ", ")))
	}
	o.applyDefaults()
	for _, c := range o.Components {
		if !slices.Contains(pack.AllComponents, c) {
			errs = append(errs, fmt.Errorf("unknown component %q (want db, volumes or images)", c))
		}
	}
	if o.SpaceMargin < 1 {
		errs = append(errs, fmt.Errorf("space margin %.2f is below 1", o.SpaceMargin))
	}
	if o.RootFailFree > o.RootWarnFree {
		errs = append(errs, fmt.Errorf("root fail threshold %s is above the warn threshold %s",
			units.BytesSize(float64(o.RootFailFree)), units.BytesSize(float64(o.RootWarnFree))))
	}
	if o.Jobs < 0 || o.PartialStaleAfter < 0 || o.CheckTimeout < 0 {
		errs = append(errs, errors.New("jobs, partial-stale-after and check timeout must not be negative"))
	}
	if err := o.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: doctor options: %w", backup.ErrInvalidSpec, errors.Join(errs...))
}

func (o Options) has(c pack.Component) bool { return slices.Contains(o.Components, c) }

// Doctor runs every check and returns the report; the error is only for
// invalid options (ErrInvalidSpec). Checks run in dependency order (the
// stack's estimate sizes the space checks) and are reported in the order of
// DoctorChecks.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.applyDefaults()
	d := &doctor{o: o, p: i18n.For(o.Lang), now: o.Now(), dbSize: -1, checks: map[string]*Check{}}
	for _, run := range []struct {
		name string
		fn   func(ctx context.Context, c *Check)
	}{
		{CheckEngine, d.engine},
		{CheckStack, d.stack},
		{CheckSQLite, d.sqlite},
		{CheckTarget, d.target},
		{CheckStaging, d.staging},
		{CheckDataRoot, d.dataRoot},
		{CheckRootFS, d.rootFS},
		{CheckLock, d.lockCheck},
		{CheckJobs, d.jobs},
		{CheckPacks, d.packs},
	} {
		c := &Check{Name: run.name, Title: d.p.T("doctor." + run.name + ".title"), Verdict: VerdictOK, Code: "ok", Evidence: []Evidence{}}
		cctx, cancel := context.WithTimeout(ctx, o.CheckTimeout)
		t0 := time.Now()
		run.fn(cctx, c)
		c.DurationMs = time.Since(t0).Milliseconds()
		if c.Verdict != VerdictSkip && cctx.Err() != nil && ctx.Err() == nil && c.Verdict != VerdictFail {
			c.Verdict, c.Code = VerdictFail, "timeout"
			c.Summary = d.p.T("doctor.timeout", o.CheckTimeout)
		}
		cancel()
		d.checks[run.name] = c
	}
	host, _ := os.Hostname()
	rep := &Report{Verdict: VerdictOK, Lang: o.Lang, Host: host, At: d.now}
	if d.est != nil {
		rep.EstimateBytes = d.est.Total()
	}
	for _, name := range Checks() {
		c := d.checks[name]
		rep.Checks = append(rep.Checks, *c)
		rep.Verdict = rep.Verdict.Worse(c.Verdict)
	}
	return rep, nil
}

type doctor struct {
	o      Options
	p      i18n.Printer
	now    time.Time
	info   *dockerapi.EngineInfo
	st     *dockerapi.Stack
	est    *backup.Estimate // nil while unknown
	dbSize int64            // -1: unknown
	lock   *jobs.LockInfo
	checks map[string]*Check
}

// Helpers filling a check.

func (d *doctor) ev(c *Check, key, value string) {
	c.Evidence = append(c.Evidence, Evidence{Key: key, Label: d.p.T("doctor.ev." + key), Value: value})
}

// raise makes the check at least v; the first finding of the worst verdict
// names the code, the summary and the fix.
func (d *doctor) raise(c *Check, v Verdict, code, summary, fix string) {
	if v.severity() <= c.Verdict.severity() {
		return
	}
	c.Verdict, c.Code, c.Summary, c.Fix = v, code, summary, fix
}

func (d *doctor) skip(c *Check, why string) {
	c.Verdict, c.Code, c.Summary = VerdictSkip, "skipped", d.p.T(why)
}

func (d *doctor) failErr(c *Check, err error, code, summaryKey, fixKey string, args ...any) {
	d.raise(c, VerdictFail, code, d.p.T(summaryKey, args...), d.p.T(fixKey))
	c.Detail = err.Error()
}

func human(n int64) string {
	if n < 0 {
		return "?"
	}
	return units.BytesSize(float64(n))
}

func humanU(n uint64) string { return units.BytesSize(float64(n)) }

func (d *doctor) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func roundDur(x time.Duration) string {
	switch {
	case x < 0:
		return "-" + roundDur(-x)
	case x < time.Millisecond:
		return x.Round(time.Microsecond).String()
	case x < time.Second:
		return x.Round(time.Millisecond).String()
	case x < time.Hour:
		return x.Round(time.Second).String()
	}
	return x.Round(time.Minute).String()
}

// bounded runs fn, giving up when ctx ends (fn may be stuck in a hung
// file-system call; its goroutine then finishes on its own).
func bounded[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// The checks.

func (d *doctor) engine(ctx context.Context, c *Check) {
	if d.o.Engine == nil {
		d.skip(c, "doctor.engine.skip")
		return
	}
	info, err := d.o.Engine.Info(ctx)
	if err != nil {
		d.failErr(c, err, backup.ErrorCode(err), "doctor.engine.unreachable", "doctor.engine.unreachable.fix")
		return
	}
	d.info = &info
	d.ev(c, "version", info.Version)
	d.ev(c, "api", fmt.Sprintf("%s (min %s, client %s)", info.APIVersion, info.MinAPIVersion, info.ClientAPIVersion))
	d.ev(c, "storage_driver", info.StorageDriver)
	d.ev(c, "image_store", info.ImageStore)
	d.ev(c, "data_root", info.DataRoot)
	d.ev(c, "platform", strings.Trim(info.OS+"/"+info.Arch+"/"+info.Variant, "/"))
	d.ev(c, "engine_local", strconv.FormatBool(info.Local))
	c.Summary = d.p.T("doctor.engine.ok", info.Version, info.APIVersion, info.ImageStore)
}

func (d *doctor) stack(ctx context.Context, c *Check) {
	switch {
	case d.o.Project == "":
		d.skip(c, "doctor.stack.skip")
		return
	case d.o.Engine == nil:
		d.skip(c, "doctor.engine.skip")
		return
	case d.info == nil:
		d.skip(c, "doctor.stack.skip_engine")
		return
	}
	st, err := d.o.Engine.ResolveStack(ctx, d.o.Project)
	if err != nil {
		var pnf *dockerapi.ProjectNotFoundError
		if errors.As(err, &pnf) {
			known := strings.Join(pnf.Known, ", ")
			if known == "" {
				known = "-"
			}
			d.ev(c, "known_projects", known)
		}
		d.failErr(c, err, backup.ErrorCode(err), "doctor.stack.not_found", "doctor.stack.not_found.fix", d.o.Project)
		return
	}
	d.st = &st
	running, stopped := 0, []string{}
	for _, ct := range st.Containers {
		if ct.Running {
			running++
		} else {
			stopped = append(stopped, ct.Name+" ("+ct.State+")")
		}
		d.ev(c, "container", fmt.Sprintf("%s  service=%s  %s  image=%s", ct.Name, ct.Service, ct.State, ct.ImageRef))
	}
	untagged := []string{}
	for _, im := range st.Images {
		tags := dockerapi.RealTags(im.RepoTags)
		name := strings.Join(tags, ", ")
		if len(tags) == 0 {
			name = shortID(im.ID) + " (untagged)"
			untagged = append(untagged, shortID(im.ID)+" ← "+strings.Join(im.Containers, ", "))
		}
		d.ev(c, "image", fmt.Sprintf("%s  %s", name, human(im.Size)))
	}
	for _, v := range st.Volumes {
		ext := ""
		if v.External {
			ext = "  external"
		}
		d.ev(c, "volume", fmt.Sprintf("%s  %s%s", v.Name, human(v.Size), ext))
	}
	var anon, binds []string
	for _, s := range st.Skipped {
		switch s.Kind {
		case "anonymous":
			anon = append(anon, fmt.Sprintf("%s:%s (%s)", s.Container, s.Destination, shortID(s.Source)))
		case "bind":
			what := fmt.Sprintf("%s → %s:%s", s.Source, s.Container, s.Destination)
			if d.o.SQLitePath != "" && pathUnder(d.o.SQLitePath, s.Source) {
				d.ev(c, "bind_db", what)
				continue
			}
			binds = append(binds, what)
		default:
			d.ev(c, "not_in_pack", fmt.Sprintf("%s %s %s:%s", s.Kind, s.Source, s.Container, s.Destination))
		}
	}

	// The estimate sizes the space checks.
	e := backup.Estimate{DB: 0, VolumeSizes: map[string]int64{}}
	if d.o.has(pack.ComponentVolumes) {
		for _, v := range st.Volumes {
			e.VolumeSizes[v.Name] = v.Size
			if v.Size > 0 {
				e.Volumes += v.Size
			}
		}
	}
	if d.o.has(pack.ComponentImages) && len(st.Images) > 0 {
		n, err := d.o.Engine.ImagesUniqueBytes(ctx, st.Images)
		if err != nil {
			d.raise(c, VerdictWarn, "estimate_failed", d.p.T("doctor.stack.estimate_failed"), "")
			c.Detail = err.Error()
		}
		e.Images = n
	}
	if d.o.has(pack.ComponentDB) && d.o.SQLitePath != "" {
		if n := dbFileSize(d.o.SQLitePath); n >= 0 {
			e.DB = n
		}
	}
	d.est = &e
	d.ev(c, "estimate", fmt.Sprintf("%s (db %s, volumes %s, images %s)", human(e.Total()), human(e.DB), human(e.Volumes), human(e.Images)))
	c.Summary = d.p.T("doctor.stack.ok", st.Project, len(st.Containers), running, len(st.Images), len(st.Volumes), human(e.Total()))

	hasImages := d.o.has(pack.ComponentImages) && len(st.Images) > 0
	hasVolumes := d.o.has(pack.ComponentVolumes) && len(st.Volumes) > 0
	if !d.o.has(pack.ComponentDB) && !hasImages && !hasVolumes {
		d.raise(c, VerdictFail, "nothing_to_back_up", d.p.T("doctor.stack.nothing", st.Project), d.p.T("doctor.stack.nothing.fix"))
	}
	if len(anon) > 0 {
		d.ev(c, "anonymous_volumes", strings.Join(anon, "; "))
		d.raise(c, VerdictWarn, "anonymous_volumes", d.p.T("doctor.stack.anonymous", len(anon)), d.p.T("doctor.stack.anonymous.fix"))
	}
	if len(binds) > 0 {
		d.ev(c, "bind_mounts", strings.Join(binds, "; "))
		d.raise(c, VerdictWarn, "bind_mounts", d.p.T("doctor.stack.binds", len(binds)), d.p.T("doctor.stack.binds.fix"))
	}
	if len(untagged) > 0 {
		d.ev(c, "untagged_images", strings.Join(untagged, "; "))
		d.raise(c, VerdictWarn, "untagged_images", d.p.T("doctor.stack.untagged", len(untagged)), d.p.T("doctor.stack.untagged.fix"))
	}
	if len(stopped) > 0 {
		d.ev(c, "stopped_containers", strings.Join(stopped, "; "))
		d.raise(c, VerdictWarn, "stopped_containers", d.p.T("doctor.stack.stopped", len(stopped)), d.p.T("doctor.stack.stopped.fix"))
	}
}

// pathUnder reports whether p is dir or inside it.
func pathUnder(p, dir string) bool {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func shortID(id string) string {
	s := strings.TrimPrefix(id, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// dbFileSize is the size of a SQLite database and its WAL, -1 if unreadable.
func dbFileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	n := fi.Size()
	if wal, err := os.Stat(p + "-wal"); err == nil {
		n += wal.Size()
	}
	return n
}

func (d *doctor) sqlite(ctx context.Context, c *Check) {
	p := d.o.SQLitePath
	if p == "" {
		d.skip(c, "doctor.sqlite.skip")
		return
	}
	d.ev(c, "path", p)
	type facts struct {
		fi        os.FileInfo
		header    []byte
		walSize   int64
		dirWrite  error
		shmWrite  error
		shmExists bool
	}
	f, err := bounded(ctx, func() (facts, error) {
		var f facts
		fi, err := os.Stat(p)
		if err != nil {
			return f, err
		}
		f.fi = fi
		if !fi.Mode().IsRegular() {
			return f, nil
		}
		fh, err := os.Open(p)
		if err != nil {
			return f, err
		}
		defer fh.Close()
		f.header = make([]byte, 100)
		n, _ := fh.Read(f.header)
		f.header = f.header[:n]
		if wal, err := os.Stat(p + "-wal"); err == nil {
			f.walSize = wal.Size()
		}
		f.dirWrite = unix.Access(filepath.Dir(p), unix.W_OK)
		if _, err := os.Stat(p + "-shm"); err == nil {
			f.shmExists = true
			f.shmWrite = unix.Access(p+"-shm", unix.W_OK)
		}
		return f, nil
	})
	switch {
	case err != nil && ctx.Err() != nil:
		d.failErr(c, err, "timeout", "doctor.sqlite.unreadable", "doctor.sqlite.unreadable.fix", p)
		return
	case err != nil:
		d.failErr(c, err, "sqlite_not_found", "doctor.sqlite.unreadable", "doctor.sqlite.unreadable.fix", p)
		return
	case !f.fi.Mode().IsRegular():
		d.failErr(c, fmt.Errorf("%s is a %s, not a regular file", p, f.fi.Mode().Type()), "sqlite_not_found", "doctor.sqlite.not_file", "doctor.sqlite.unreadable.fix", p)
		return
	case len(f.header) < 100 || string(f.header[:16]) != "SQLite format 3\x00":
		d.raise(c, VerdictFail, "sqlite_corrupt", d.p.T("doctor.sqlite.not_db", p), d.p.T("doctor.sqlite.not_db.fix"))
		return
	}
	size := f.fi.Size() + f.walSize
	d.dbSize = size
	wal := f.header[18] == 2 && f.header[19] == 2
	mode := "rollback journal"
	if wal {
		mode = "WAL"
	}
	d.ev(c, "size", fmt.Sprintf("%s (+ WAL %s)", human(f.fi.Size()), human(f.walSize)))
	d.ev(c, "journal_mode", mode)
	d.ev(c, "modified", d.when(f.fi.ModTime()))
	c.Summary = d.p.T("doctor.sqlite.ok", p, human(size), mode)
	if wal && (f.dirWrite != nil || (f.shmExists && f.shmWrite != nil)) {
		why := f.dirWrite
		if why == nil {
			why = f.shmWrite
		}
		d.ev(c, "dir_writable", "false: "+why.Error())
		d.raise(c, VerdictFail, "sqlite_wal_readonly", d.p.T("doctor.sqlite.wal_readonly", filepath.Dir(p)), d.p.T("doctor.sqlite.wal_readonly.fix"))
		c.Detail = why.Error()
	}
}

// required is the free space a pack needs on the target (0: unknown).
func (d *doctor) required() uint64 {
	if d.est == nil {
		return 0
	}
	return uint64(float64(d.est.Total()) * d.o.SpaceMargin)
}

func (d *doctor) target(ctx context.Context, c *Check) {
	if d.o.Target == "" {
		d.skip(c, "doctor.target.skip")
		return
	}
	pol := d.o.Policy
	need := d.required()
	if need > pol.MinFreeBytes {
		pol.MinFreeBytes = need
	}
	rep, err := mountcheck.Verify(ctx, d.o.Target, pol)
	d.ev(c, "path", d.o.Target)
	d.ev(c, "policy", d.o.Policy.String())
	if rep.MountPoint != "" {
		d.ev(c, "mount_point", rep.MountPoint)
		d.ev(c, "fstype", rep.FSType)
		d.ev(c, "source", rep.Source)
		d.ev(c, "options", rep.Options)
		d.ev(c, "on_root_fs", strconv.FormatBool(rep.OnRootFS))
		d.ev(c, "free", fmt.Sprintf("%s / %s", humanU(rep.FreeBytes), humanU(rep.TotalBytes)))
	}
	if need > 0 {
		d.ev(c, "pack_needs", humanU(need))
	} else {
		d.ev(c, "pack_needs", d.p.T("doctor.unknown_estimate"))
	}
	if err != nil {
		code := backup.ErrorCode(err)
		if errors.Is(err, mountcheck.ErrPolicy) {
			code = "invalid_spec"
		}
		key := "doctor.target." + code
		if !i18n.Has(i18n.English, key) {
			key = "doctor.target.failed"
		}
		d.raise(c, VerdictFail, code, d.p.T(key, d.o.Target, rep.FSType, rep.MountPoint), d.p.T(key+".fix"))
		c.Detail = err.Error()
		return
	}
	d.ev(c, "write_probe", "ok ("+roundDur(rep.ProbeDuration)+")")
	c.Summary = d.p.T("doctor.target.ok", d.o.Target, rep.MountPoint, rep.FSType, humanU(rep.FreeBytes))
}

func (d *doctor) staging(ctx context.Context, c *Check) {
	dir := d.o.StagingDir
	d.ev(c, "path", dir)
	rep, _ := mountcheck.Verify(ctx, dir, mountcheck.Policy{AnyFSType: true, AllowRootFS: true, SkipProbe: true, ProbeTimeout: d.o.Policy.ProbeTimeout})
	if rep.MountPoint != "" {
		d.ev(c, "mount_point", rep.MountPoint)
		d.ev(c, "fstype", rep.FSType)
	}
	type probe struct{ free, total uint64 }
	pr, err := bounded(ctx, func() (probe, error) {
		fi, err := os.Stat(dir)
		if err != nil {
			return probe{}, err
		}
		if !fi.IsDir() {
			return probe{}, fmt.Errorf("%s is not a directory", dir)
		}
		f, err := os.CreateTemp(dir, ".dockpack-doctor-*")
		if err != nil {
			return probe{}, err
		}
		name := f.Name()
		_, werr := f.Write([]byte("dockpack doctor probe\n"))
		cerr := f.Close()
		rerr := os.Remove(name)
		if err := errors.Join(werr, cerr, rerr); err != nil {
			return probe{}, err
		}
		free, total, err := mountcheck.FreeSpace(ctx, dir)
		return probe{free, total}, err
	})
	if err != nil {
		d.failErr(c, err, "staging_unusable", "doctor.staging.unusable", "doctor.staging.unusable.fix", dir)
		return
	}
	d.ev(c, "free", fmt.Sprintf("%s / %s", humanU(pr.free), humanU(pr.total)))
	need := int64(0)
	if d.o.has(pack.ComponentDB) {
		need = d.dbSize
	}
	if need > 0 {
		d.ev(c, "snapshot_needs", human(need))
	}
	c.Summary = d.p.T("doctor.staging.ok", dir, humanU(pr.free))
	if need > 0 && pr.free < uint64(need) {
		d.raise(c, VerdictFail, "insufficient_space", d.p.T("doctor.staging.space", dir, humanU(pr.free), human(need)), d.p.T("doctor.staging.space.fix"))
	}
}

func (d *doctor) dataRoot(ctx context.Context, c *Check) {
	switch {
	case d.o.Engine == nil:
		d.skip(c, "doctor.engine.skip")
		return
	case d.info == nil:
		d.skip(c, "doctor.stack.skip_engine")
		return
	}
	info := *d.info
	d.ev(c, "data_root", info.DataRoot)
	d.ev(c, "image_store", info.ImageStore)
	var needImages int64 = -1
	if d.est != nil && d.o.has(pack.ComponentImages) {
		needImages = d.est.Images
	}
	if info.ImageStore != dockerapi.ImageStoreGraphDriver {
		c.Summary = d.p.T("doctor.data_root.streams", info.ImageStore)
		return
	}
	if !info.Local {
		d.raise(c, VerdictWarn, "data_root_remote", d.p.T("doctor.data_root.remote"), d.p.T("doctor.data_root.remote.fix", info.DataRoot))
		return
	}
	free, err := bounded(ctx, func() ([2]uint64, error) {
		if _, err := os.Stat(info.DataRoot); err != nil {
			return [2]uint64{}, err
		}
		f, t, err := mountcheck.FreeSpace(ctx, info.DataRoot)
		return [2]uint64{f, t}, err
	})
	if err != nil {
		if d.o.has(pack.ComponentImages) {
			d.raise(c, VerdictWarn, "data_root_not_visible", d.p.T("doctor.data_root.not_visible", info.DataRoot), d.p.T("doctor.data_root.not_visible.fix", info.DataRoot))
			c.Detail = err.Error()
			return
		}
		c.Summary = d.p.T("doctor.data_root.no_images")
		return
	}
	d.ev(c, "free", fmt.Sprintf("%s / %s", humanU(free[0]), humanU(free[1])))
	if needImages >= 0 {
		d.ev(c, "images_need", human(needImages))
	}
	c.Summary = d.p.T("doctor.data_root.ok", info.DataRoot, humanU(free[0]))
	if needImages > 0 && free[0] < uint64(needImages) {
		d.raise(c, VerdictFail, "insufficient_space", d.p.T("doctor.data_root.space", info.DataRoot, humanU(free[0]), human(needImages)), d.p.T("doctor.data_root.space.fix", info.DataRoot))
	}
}

func (d *doctor) rootFS(ctx context.Context, c *Check) {
	free, total, err := mountcheck.FreeSpace(ctx, "/")
	if err != nil {
		d.failErr(c, err, "target_probe_failed", "doctor.root_fs.unreadable", "doctor.root_fs.unreadable.fix")
		return
	}
	d.ev(c, "free", fmt.Sprintf("%s / %s", humanU(free), humanU(total)))
	d.ev(c, "thresholds", fmt.Sprintf("warn < %s, fail < %s", humanU(d.o.RootWarnFree), humanU(d.o.RootFailFree)))
	c.Summary = d.p.T("doctor.root_fs.ok", humanU(free))
	switch {
	case free < d.o.RootFailFree:
		d.raise(c, VerdictFail, "root_fs_full", d.p.T("doctor.root_fs.low", humanU(free)), d.p.T("doctor.root_fs.low.fix"))
	case free < d.o.RootWarnFree:
		d.raise(c, VerdictWarn, "root_fs_low", d.p.T("doctor.root_fs.low", humanU(free)), d.p.T("doctor.root_fs.low.fix"))
	}
}

// stateMissing skips a state check: nothing given, or (StateDesc set) no state there.
func (d *doctor) stateMissing(c *Check) bool {
	if d.o.State != nil {
		return false
	}
	d.skip(c, "doctor.state.skip")
	if d.o.StateDesc != "" {
		c.Summary = d.p.T("doctor.state.none", d.o.StateDesc)
	}
	return true
}

func (d *doctor) lockCheck(ctx context.Context, c *Check) {
	if d.stateMissing(c) {
		return
	}
	if d.o.StateDesc != "" {
		d.ev(c, "state_source", d.o.StateDesc)
	}
	l, err := d.o.State.Lock(ctx)
	if err != nil {
		d.failErr(c, err, "state_unreadable", "doctor.state.unreadable", "doctor.state.unreadable.fix")
		return
	}
	d.lock = &l
	if l.JobID == 0 && !l.Held && !l.Stale {
		c.Summary = d.p.T("doctor.lock.free")
		return
	}
	d.ev(c, "job_id", strconv.FormatInt(l.JobID, 10))
	d.ev(c, "holder", fmt.Sprintf("host %s pid %d (owner %s…)", l.Host, l.PID, l.OwnerToken))
	d.ev(c, "acquired_at", d.when(l.AcquiredAt)+" ("+d.p.T("doctor.ago", roundDur(d.now.Sub(l.AcquiredAt)))+")")
	d.ev(c, "renewed_at", d.when(l.RenewedAt))
	left := l.ExpiresAt.Sub(d.now)
	if left >= 0 {
		d.ev(c, "lease_left", roundDur(left))
	} else {
		d.ev(c, "lease_left", d.p.T("doctor.lock.expired_ago", roundDur(-left)))
	}
	if l.Stale {
		d.ev(c, "stale_reason", l.StaleReason)
		d.raise(c, VerdictWarn, "lock_stale", d.p.T("doctor.lock.stale", l.JobID, l.Host, l.PID), d.p.T("doctor.lock.stale.fix"))
		return
	}
	d.raise(c, VerdictWarn, "lock_held", d.p.T("doctor.lock.held", l.JobID, l.Host, l.PID, roundDur(max(left, 0))), d.p.T("doctor.lock.held.fix", l.JobID))
}

func (d *doctor) jobs(ctx context.Context, c *Check) {
	if d.stateMissing(c) {
		return
	}
	recent, err := d.o.State.List(ctx, jobs.ListOptions{Limit: d.o.Jobs})
	if err != nil {
		d.failErr(c, err, "state_unreadable", "doctor.state.unreadable", "doctor.state.unreadable.fix")
		return
	}
	if len(recent) == 0 {
		c.Summary = d.p.T("doctor.jobs.none")
		return
	}
	for _, j := range recent {
		d.ev(c, "job", d.jobLine(j))
	}
	var last *jobs.Job
	for i := range recent {
		if !recent[i].Status.Active() {
			last = &recent[i]
			break
		}
	}
	c.Summary = d.p.T("doctor.jobs.ok", len(recent))
	if last == nil {
		return
	}
	switch last.Status {
	case jobs.StatusCompleted:
		c.Summary = d.p.T("doctor.jobs.last_ok", last.ID, d.when(msTime(last.FinishedAtMs)))
	case jobs.StatusFailed:
		code := deref(last.ErrorCode)
		d.raise(c, VerdictWarn, "last_job_failed", d.p.T("doctor.jobs.last_failed", last.ID, code), d.p.T("doctor.jobs.last_failed.fix"))
		c.Detail = deref(last.Detail)
	case jobs.StatusCanceled:
		d.raise(c, VerdictWarn, "last_job_canceled", d.p.T("doctor.jobs.last_canceled", last.ID, deref(last.CancelReason)), "")
	}
}

func (d *doctor) jobLine(j jobs.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s %d%%", j.ID, j.Kind, j.Status, j.Progress)
	fmt.Fprintf(&b, " %s", d.when(time.UnixMilli(j.CreatedAtMs)))
	if j.StartedAtMs != nil && j.FinishedAtMs != nil {
		fmt.Fprintf(&b, " (%s)", roundDur(time.Duration(*j.FinishedAtMs-*j.StartedAtMs)*time.Millisecond))
	}
	if j.ErrorCode != nil {
		fmt.Fprintf(&b, " error_code=%s", *j.ErrorCode)
	}
	if j.Status == jobs.StatusFailed && j.Detail != nil {
		fmt.Fprintf(&b, ": %s", textutil.Truncate(*j.Detail, 240))
	}
	if j.Status == jobs.StatusCompleted && j.PackName != nil {
		fmt.Fprintf(&b, " %s %s", *j.PackName, human(j.BytesDone))
	}
	return b.String()
}

func msTime(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return time.UnixMilli(*ms)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (d *doctor) packs(ctx context.Context, c *Check) {
	if d.o.Target == "" {
		d.skip(c, "doctor.target.skip")
		return
	}
	packs, err := bounded(ctx, func() ([]pack.Info, error) { return pack.List(ctx, d.o.Target) })
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.raise(c, VerdictWarn, "no_pack", d.p.T("doctor.packs.no_target", d.o.Target), d.p.T("doctor.packs.none.fix"))
		return
	case err != nil:
		d.failErr(c, err, "target_probe_failed", "doctor.packs.unreadable", "doctor.packs.unreadable.fix", d.o.Target)
		return
	}
	var complete, invalid, stale, young []pack.Info
	for _, p := range packs {
		switch p.Status {
		case pack.StatusComplete:
			complete = append(complete, p)
		case pack.StatusInvalid:
			invalid = append(invalid, p)
		case pack.StatusPartial:
			age := d.now.Sub(p.CreatedAt)
			if p.CreatedAt.IsZero() || age >= d.o.PartialStaleAfter {
				stale = append(stale, p)
			} else {
				young = append(young, p)
			}
		}
	}
	d.ev(c, "complete", strconv.Itoa(len(complete)))
	if len(complete) > 0 {
		n := complete[0]
		d.ev(c, "newest", fmt.Sprintf("%s  project=%s  %s  %s (%s)", n.Name, n.Project, human(n.Size), d.when(n.CreatedAt),
			d.p.T("doctor.ago", roundDur(d.now.Sub(n.CreatedAt)))))
		c.Summary = d.p.T("doctor.packs.ok", len(complete), n.Name, roundDur(d.now.Sub(n.CreatedAt)))
	} else {
		d.raise(c, VerdictWarn, "no_pack", d.p.T("doctor.packs.none", d.o.Target), d.p.T("doctor.packs.none.fix"))
	}
	for _, p := range young {
		d.ev(c, "partial", fmt.Sprintf("%s  %s  %s (%s)", p.Name, human(p.Size), d.p.T("doctor.ago", roundDur(d.now.Sub(p.CreatedAt))), d.p.T("doctor.packs.in_progress")))
	}
	for _, p := range invalid {
		d.ev(c, "invalid", fmt.Sprintf("%s: %s", p.Name, p.Problem))
	}
	if len(invalid) > 0 {
		d.raise(c, VerdictWarn, "invalid_pack", d.p.T("doctor.packs.invalid", len(invalid)), d.p.T("doctor.packs.invalid.fix"))
	}
	for _, p := range stale {
		age := "?"
		if !p.CreatedAt.IsZero() {
			age = roundDur(d.now.Sub(p.CreatedAt))
		}
		d.ev(c, "stale_partial", fmt.Sprintf("%s  %s  %s", p.Name, human(p.Size), d.p.T("doctor.ago", age)))
	}
	if len(stale) > 0 {
		d.raise(c, VerdictWarn, "stale_partial", d.p.T("doctor.packs.stale", len(stale), roundDur(d.o.PartialStaleAfter)), d.p.T("doctor.packs.stale.fix", filepath.Join(d.o.Target, pack.PartialPrefix+"*")))
	}
}
