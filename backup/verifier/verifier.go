// Package verifier verifies packs of a job Manager's target in the
// background, for the admin page's "verify" button (POST
// /v1/packs/{name}/verify): like a backup — under the backup lock, with
// live progress, log lines, cancel and a watch — but not a row of the jobs
// table. That table is the backup history: RagFlowAuth's job list, the
// doctor's "last job failed", the metrics and the webhooks all read every
// row as a backup, and recovery treats an interrupted row as a backup that
// left a partial pack. A verification writes nothing (its verdict is about
// the pack's files as they are now), so it lives in memory: the running one
// and the last keep finished ones of this process.
package verifier

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
)

// Request asks for the verification of one pack of the target.
type Request struct {
	// Pack is the pack's directory name in the target (migration_pack_…).
	Pack string
	// Lang is the language of the checks' summaries, the progress messages
	// and the log lines. Default: the Manager's.
	Lang string
}

// Verification is one verification of a pack, as served.
type Verification struct {
	ID    string `json:"id"`
	Pack  string `json:"pack"` // the pack's name
	Path  string `json:"path"`
	JobID int64  `json:"job_id,omitempty"` // the backup job that wrote the pack, when known
	// Status is running, canceling, completed (the pack passed), failed
	// (the pack failed, ErrorCode pack_verify_failed, or the verification
	// could not finish, verify_error) or canceled.
	Status     jobs.Status `json:"status"`
	Progress   int         `json:"progress"`
	Step       string      `json:"step"`
	Item       string      `json:"item,omitempty"`
	Message    string      `json:"message"`
	BytesDone  int64       `json:"bytes_done"`
	BytesTotal int64       `json:"bytes_total"`
	StartedAt  int64       `json:"started_at_ms"`
	FinishedAt *int64      `json:"finished_at_ms"`
	OK         *bool       `json:"ok"` // the verdict; nil while running and when none was reached
	ErrorCode  *string     `json:"error_code"`
	Detail     *string     `json:"detail"`
	// Result is the verification's outcome (its checks), once ended.
	Result *pack.VerifyResult `json:"result,omitempty"`
	Lang   string             `json:"lang"`
	Log    []jobs.LogLine     `json:"log"`
}

// Error codes of a verification that did not pass.
const (
	CodeFailed   = "pack_verify_failed" // the pack failed a check (see Result)
	CodeError    = "verify_error"       // no verdict: the pack could not be read to its end
	CodeCanceled = "canceled"
)

// ErrNotFound: no verification with that id in this process.
var ErrNotFound = errors.New("verification_not_found")

// keep is how many finished verifications are kept; logMax how many log
// lines each keeps.
const (
	keep   = 20
	logMax = 200
)

// Verifier runs the verifications of a Manager's packs and keeps them:
// the running one and the last keep finished ones, oldest first. Its
// methods are safe for concurrent use.
type Verifier struct {
	m   *jobs.Manager
	cfg jobs.Config // the Manager's: staging, language, clock, hooks
	log *zap.Logger
	reg registry
}

// New returns a Verifier of m's packs. A verification holds m's backup
// lock (jobs.Manager.Hold), so m's Close cancels it and waits for it.
func New(m *jobs.Manager) *Verifier {
	cfg := m.Config()
	return &Verifier{m: m, cfg: cfg, log: cfg.Logger.Named("verifier")}
}

// Start starts the verification of a pack of the target (every file
// re-hashed, structure checked: pack.Verify) and returns it running. It
// holds the backup lock while it runs, so no backup, retention or drill
// changes the target meanwhile: while a backup (or a drill, or another
// verification) holds it, Start returns a *jobs.BusyError. An unknown pack
// is jobs.ErrPackNotFound; a malformed name or a partial pack an error
// wrapping ErrInvalidSpec. Follow it with Watch or Get; Cancel stops it.
// The Manager's Close cancels it.
func (vf *Verifier) Start(ctx context.Context, req Request) (Verification, error) {
	lang := req.Lang
	if lang == "" {
		lang = vf.cfg.Lang
	}
	if !i18n.Valid(lang) {
		return Verification{}, fmt.Errorf("%w: language %q is not supported (one of %s)", backup.ErrInvalidSpec, lang, strings.Join(i18n.Supported(), ", "))
	}
	lang, _ = i18n.Normalize(lang)
	info, err := vf.m.FindPack(ctx, req.Pack)
	if err != nil {
		return Verification{}, err
	}
	jobID := vf.packJob(ctx, info.Name)
	hctx, release, err := vf.m.Hold(context.WithoutCancel(ctx), "verification of pack "+info.Name, jobID)
	if err != nil {
		return Verification{}, err
	}
	now := vf.cfg.Now()
	r := &run{changed: make(chan struct{}), now: vf.cfg.Now, v: Verification{
		ID: "verify_" + owner.NewToken()[:16], Pack: info.Name, Path: info.Path, JobID: jobID, Status: jobs.StatusRunning,
		Step: string(progress.StepVerify), StartedAt: now.UnixMilli(), Lang: lang, Log: []jobs.LogLine{},
		Message: i18n.T(lang, "verifyjob.started", info.Name),
	}}
	r.logLocked(&r.v, "info", r.v.Message)
	vctx, cancel := context.WithCancelCause(hctx)
	r.cancel = cancel
	vf.reg.add(r)
	started, _ := r.snapshot()
	go func() {
		defer release()
		defer cancel(nil)
		vf.run(vctx, r)
	}()
	vf.log.Info("pack verification started", zap.String("verification", started.ID), zap.String("pack", info.Name), zap.Int64("job_id", jobID))
	return started, nil
}

// run runs pack.Verify for r and records its end.
func (vf *Verifier) run(ctx context.Context, r *run) {
	v, _ := r.snapshot()
	log := vf.log.With(zap.String("verification", v.ID), zap.String("pack", v.Pack))
	var (
		res *pack.VerifyResult
		err error
	)
	if h := vf.cfg.Hooks.BeforeStep; h != nil {
		err = h(ctx, progress.StepVerify)
	}
	var keys *seal.Keys // a sealed pack's identity (age_identity_file)
	if err == nil {
		keys, err = vf.m.OpenKeys(ctx)
	}
	path, done := v.Path, func() {}
	if err == nil {
		path, done, res, err = vf.localPack(ctx, v.Path, log) // s3.go: a pack in object storage is fetched first
	}
	if err == nil && res == nil {
		defer done()
		res, err = pack.Verify(ctx, path, pack.VerifyOptions{StagingDir: vf.cfg.StagingDir, Lang: v.Lang, Logger: log,
			Progress: func(p progress.Report) { r.progress(v.Lang, p) }, Keys: keys})
		if errors.Is(err, seal.ErrNoIdentity) {
			err = fmt.Errorf("%w; this daemon reads the identity from %s", err, jobs.IdentityHint)
		}
	}
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx) // canceled, shut down or the lease lost: say which
	}
	r.finish(res, err)
	end, _ := r.snapshot()
	log.Info("pack verification ended", zap.String("status", string(end.Status)), zap.Int64("bytes", end.BytesDone),
		zap.Stringp("error_code", end.ErrorCode))
}

// packJob is the id of the backup job that wrote the pack (among the last
// 200 jobs), 0 when none is known: the lock names it while a verification
// holds it, as a drill's does.
func (vf *Verifier) packJob(ctx context.Context, name string) int64 {
	list, err := vf.m.List(ctx, jobs.ListOptions{Limit: 200})
	if err != nil {
		return 0
	}
	for _, j := range list {
		if j.PackName != nil && *j.PackName == name {
			return j.ID
		}
	}
	return 0
}
