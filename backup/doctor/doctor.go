// Package doctor is the operator's checklist as code: every condition that
// broke the backups of the post-mortem (docs/postmortem.md) is checked where
// dockpack runs (on the host, or inside its container), and each check
// reports a status, the evidence it saw and the fix.
//
// The checks a backup makes itself (engine, stack, database, target,
// staging, data root) are the backup's own prechecks, looking deeper; the
// doctor adds the root filesystem, the lock, the last jobs and the packs.
// It writes nothing but a tiny probe file on the target and in the staging
// directory, and never opens a Manager (which would run recovery): the lock
// and the jobs come from a StateSource — a *jobs.Manager, a
// *jobs.StateReader (the state DB opened read-only) or a daemon's API.
package doctor

import (
	"context"
	"os"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/internal/i18n"
)

// Names of the doctor checks, in report order.
const (
	CheckTarget   = precheck.NameTarget   // the target mount: fstype, root fs, expected mount point, free space, write probe
	CheckRootFS   = "root-fs"             // free space on the root filesystem where dockpack runs
	CheckStaging  = precheck.NameStaging  // the local staging directory: exists, writable, room for the SQLite snapshot
	CheckSQLite   = precheck.NameSQLite   // the application's database: readable, WAL needs its directory writable
	CheckEngine   = precheck.NameEngine   // the Docker Engine: reachable, version, API, image store
	CheckDataRoot = precheck.NameDataRoot // free space under the engine's data root (graph-driver image exports stage there)
	CheckStack    = precheck.NameStack    // the compose project: containers, images, volumes and what a pack leaves out
	CheckCompose  = precheck.NameCompose  // the compose model against the pack: hooks, dumps, every named volume captured, bind mounts, stop order
	CheckLock     = "lock"                // the lease lock: free, held (by which job, host, pid, lease left) or stale
	CheckJobs     = "jobs"                // the last jobs and their errors
	CheckPacks    = "packs"               // complete, invalid and partial packs in the target
)

// Checks lists the check names in report order.
func Checks() []string {
	return []string{CheckTarget, CheckRootFS, CheckStaging, CheckSQLite, CheckEngine, CheckDataRoot, CheckStack, CheckCompose, CheckLock, CheckJobs, CheckPacks, CheckStore, CheckEncryption}
}

// Report is the result of Run.
type Report struct {
	// Verdict is the worst status of the checks (skipped ones aside).
	Verdict check.Status `json:"verdict"`
	Lang    string       `json:"lang"`
	Host    string       `json:"host"`
	At      time.Time    `json:"at"`
	// Checks are in the order of Checks(). A check's Code is "ok",
	// "skipped", an ErrorCode value such as "target_wrong_fstype", or a
	// doctor code such as "lock_stale" or "stale_partial".
	Checks []check.Check `json:"checks"`
	// EstimateBytes is the pack size estimate the space checks used (0: unknown).
	EstimateBytes int64 `json:"estimate_bytes"`
}

// Check returns the check named name.
func (r *Report) Check(name string) (check.Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return check.Check{}, false
}

// doctor runs the checks of one report.
type doctor struct {
	o   Options
	p   i18n.Printer
	now time.Time
	pre *precheck.Checker
}

// Run runs every check and returns the report; the error is only for
// invalid options (ErrInvalidSpec). Checks run in dependency order (the
// stack's estimate sizes the space checks), each within o.CheckTimeout,
// and are reported in the order of Checks().
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.applyDefaults()
	pre, err := precheck.New(precheck.Options{
		Engine: o.Engine, EngineErr: o.EngineErr, Project: o.Project, Target: o.Target, S3: o.S3, Policy: o.Policy, ProbeTarget: true,
		StagingDir: o.StagingDir, SQLitePath: o.SQLitePath, Components: o.Components, SpaceMargin: o.SpaceMargin,
		Deep: true, CallTimeout: o.CheckTimeout, Lang: o.Lang, Code: backup.ErrorCode, ErrNothingToBackUp: backup.ErrNothingToBackUp,
	})
	if err != nil {
		return nil, err
	}
	d := &doctor{o: o, p: i18n.For(o.Lang), now: o.Now(), pre: pre}
	steps := append(pre.Steps(),
		precheck.Step{Name: CheckRootFS, Run: d.rootFS},
		precheck.Step{Name: CheckLock, Run: d.lock},
		precheck.Step{Name: CheckJobs, Run: d.jobs},
		precheck.Step{Name: CheckPacks, Run: d.packs},
		precheck.Step{Name: CheckStore, Run: d.store},
		precheck.Step{Name: CheckEncryption, Run: d.encryption}, // seal.go
	)
	checks := map[string]check.Check{}
	for _, s := range steps {
		checks[s.Name] = d.run(ctx, s)
	}
	host, _ := os.Hostname()
	rep := &Report{Verdict: check.OK, Lang: o.Lang, Host: host, At: d.now}
	if pre.Facts.Estimate != nil {
		rep.EstimateBytes = pre.Facts.Estimate.Total()
	}
	for _, name := range Checks() {
		rep.Checks = append(rep.Checks, checks[name])
		rep.Verdict = rep.Verdict.Worse(checks[name].Status)
	}
	return rep, nil
}

// run runs one check within the check timeout; a check that ran out of
// time fails with the code "timeout".
func (d *doctor) run(ctx context.Context, s precheck.Step) check.Check {
	cctx, cancel := context.WithTimeout(ctx, d.o.CheckTimeout)
	defer cancel()
	t0 := time.Now()
	c := s.Run(cctx).Check
	c.DurationMs = time.Since(t0).Milliseconds()
	if c.Status != check.Skip && c.Status != check.Fail && cctx.Err() != nil && ctx.Err() == nil {
		c.Status, c.Code = check.Fail, "timeout"
		c.Summary = d.p.T("doctor.timeout", d.o.CheckTimeout)
	}
	return c
}

func (d *doctor) begin(name string) *precheck.Builder { return precheck.NewBuilder(d.p, name) }
