package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/internal/textutil"
)

// Verifications: a pack verified on demand (the admin page's "verify"
// button, POST /v1/packs/{name}/verify) runs in the background like a
// backup — under the backup lock, with live progress, log lines, cancel —
// but it is not a row of the jobs table. That table is the backup history:
// RagFlowAuth's job list, the doctor's "last job failed", the metrics and
// the webhooks all read every row as a backup, and recovery treats an
// interrupted row as a backup that left a partial pack. A verification
// writes nothing (its verdict is about the pack's files as they are now),
// so it lives in memory: the running one and the last verifyKeep finished
// ones of this process.

// VerifyRequest asks for the verification of one pack of the target.
type VerifyRequest struct {
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
	Status     Status  `json:"status"`
	Progress   int     `json:"progress"`
	Step       string  `json:"step"`
	Item       string  `json:"item,omitempty"`
	Message    string  `json:"message"`
	BytesDone  int64   `json:"bytes_done"`
	BytesTotal int64   `json:"bytes_total"`
	StartedAt  int64   `json:"started_at_ms"`
	FinishedAt *int64  `json:"finished_at_ms"`
	OK         *bool   `json:"ok"` // the verdict; nil while running and when none was reached
	ErrorCode  *string `json:"error_code"`
	Detail     *string `json:"detail"`
	// Result is the verification's outcome (its checks), once ended.
	Result *pack.VerifyResult `json:"result,omitempty"`
	Lang   string             `json:"lang"`
	Log    []LogLine          `json:"log"`
}

// Error codes of a verification that did not pass.
const (
	VerifyCodeFailed   = "pack_verify_failed" // the pack failed a check (see Result)
	VerifyCodeError    = "verify_error"       // no verdict: the pack could not be read to its end
	VerifyCodeCanceled = "canceled"
)

// Verification errors.
var (
	// ErrVerificationNotFound: no verification with that id in this process.
	ErrVerificationNotFound = errors.New("verification_not_found")
	// ErrPackNotFound: no pack of that name in the target directory.
	ErrPackNotFound = errors.New("pack_not_found")
)

// verifyKeep is how many finished verifications are kept; verifyLogMax how
// many log lines each keeps.
const (
	verifyKeep   = 20
	verifyLogMax = 200
)

// verifyRun is one verification in flight (or ended): its state, guarded
// by mu, and a channel closed at every change (watchers wait on it).
type verifyRun struct {
	mu      sync.Mutex
	v       Verification
	changed chan struct{}
	cancel  context.CancelCauseFunc
	now     func() time.Time
}

// update changes the state under the lock and wakes the watchers.
func (r *verifyRun) update(f func(v *Verification)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.v)
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot is a copy of the state and the channel closed at its next change.
func (r *verifyRun) snapshot() (Verification, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.v
	v.Log = slices.Clone(r.v.Log)
	return v, r.changed
}

// logLocked appends a log line (under update).
func (r *verifyRun) logLocked(v *Verification, level, msg string) {
	v.Log = append(v.Log, LogLine{AtMs: r.now().UnixMilli(), Level: level, Message: msg})
	if over := len(v.Log) - verifyLogMax; over > 0 {
		v.Log = v.Log[over:]
	}
}

// StartVerify starts the verification of a pack of the target (every file
// re-hashed, structure checked: pack.Verify) and returns it running. It
// holds the backup lock while it runs, so no backup, retention or drill
// changes the target meanwhile: while a backup (or a drill, or another
// verification) holds it, StartVerify returns a *BusyError. An unknown pack
// is ErrPackNotFound; a malformed name or a partial pack an error wrapping
// ErrInvalidSpec. Follow it with WatchVerify or Verification; CancelVerify
// stops it. Close cancels it.
func (m *Manager) StartVerify(ctx context.Context, req VerifyRequest) (Verification, error) {
	lang := req.Lang
	if lang == "" {
		lang = m.cfg.Lang
	}
	if !i18n.Valid(lang) {
		return Verification{}, fmt.Errorf("%w: language %q is not supported (one of %s)", backup.ErrInvalidSpec, lang, strings.Join(i18n.Supported(), ", "))
	}
	lang, _ = i18n.Normalize(lang)
	m.startMu.Lock()
	closed := m.closed
	m.startMu.Unlock()
	if closed {
		return Verification{}, ErrClosed
	}
	info, err := m.findPack(ctx, req.Pack)
	if err != nil {
		return Verification{}, err
	}
	m.startMu.Lock()
	if m.closed {
		m.startMu.Unlock()
		return Verification{}, ErrClosed
	}
	m.wg.Add(1)
	m.startMu.Unlock()
	jobID := m.packJob(ctx, info.Name)
	hctx, release, err := m.holdLease(m.base, "verification of pack "+info.Name, jobID)
	if err != nil {
		m.wg.Done()
		return Verification{}, err
	}
	now := m.cfg.Now()
	r := &verifyRun{changed: make(chan struct{}), now: m.cfg.Now, v: Verification{
		ID: "verify_" + owner.NewToken()[:16], Pack: info.Name, Path: info.Path, JobID: jobID, Status: StatusRunning,
		Step: string(progress.StepVerify), StartedAt: now.UnixMilli(), Lang: lang, Log: []LogLine{},
		Message: i18n.T(lang, "verifyjob.started", info.Name),
	}}
	r.logLocked(&r.v, "info", r.v.Message)
	vctx, cancel := context.WithCancelCause(hctx)
	r.cancel = cancel
	m.verifyRegistry().add(r)
	started, _ := r.snapshot()
	go func() {
		defer m.wg.Done()
		defer release()
		defer cancel(nil)
		m.runVerify(vctx, r)
	}()
	m.log.Info("pack verification started", zap.String("verification", started.ID), zap.String("pack", info.Name), zap.Int64("job_id", jobID))
	return started, nil
}

// runVerify runs pack.Verify for r and records its end.
func (m *Manager) runVerify(ctx context.Context, r *verifyRun) {
	v, _ := r.snapshot()
	log := m.log.With(zap.String("verification", v.ID), zap.String("pack", v.Pack))
	var (
		res *pack.VerifyResult
		err error
	)
	if h := m.cfg.Hooks.BeforeStep; h != nil {
		err = h(ctx, progress.StepVerify)
	}
	if err == nil {
		res, err = pack.Verify(ctx, v.Path, pack.VerifyOptions{StagingDir: m.cfg.StagingDir, Lang: v.Lang, Logger: log,
			Progress: func(p progress.Report) { r.progress(v.Lang, p) }})
	}
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx) // canceled, shut down or the lease lost: say which
	}
	r.finish(res, err)
	end, _ := r.snapshot()
	log.Info("pack verification ended", zap.String("status", string(end.Status)), zap.Int64("bytes", end.BytesDone),
		zap.Stringp("error_code", end.ErrorCode))
}

// progress records a progress report (the percentage never goes back) and
// logs each new file.
func (r *verifyRun) progress(lang string, p progress.Report) {
	r.update(func(v *Verification) {
		v.Progress = max(v.Progress, p.Percent)
		v.BytesDone = max(v.BytesDone, p.BytesDone)
		if p.BytesTotal > 0 {
			v.BytesTotal = p.BytesTotal
		}
		if p.Step != "" {
			v.Step = string(p.Step)
		}
		if p.Message != "" {
			v.Message = p.Message
		}
		if p.Item != "" && p.Item != v.Item {
			r.logLocked(v, "info", i18n.T(lang, "verifyjob.item", p.Item))
		}
		v.Item = p.Item
	})
}

// finish records the end: the verdict (completed or failed with
// pack_verify_failed), no verdict (failed, verify_error), or canceled.
func (r *verifyRun) finish(res *pack.VerifyResult, err error) {
	r.update(func(v *Verification) {
		at := r.now().UnixMilli()
		v.FinishedAt, v.Result = &at, res
		v.BytesTotal = max(v.BytesTotal, v.BytesDone) // the manifest and SHA256SUMS are read beyond the estimate
		code, msg, level := "", "", "info"
		switch {
		case errors.Is(err, context.Canceled):
			v.Status, code, level = StatusCanceled, VerifyCodeCanceled, "warn"
			msg = i18n.T(v.Lang, "verifyjob.canceled", v.Pack, textutil.Truncate(errText(err), 300))
		case err == nil && res != nil && res.OK:
			ok := true
			v.Status, v.OK, v.Progress = StatusCompleted, &ok, 100
			msg = i18n.T(v.Lang, "verifyjob.passed", v.Pack, len(res.Checks))
		case errors.Is(err, pack.ErrVerify) || (err == nil && res != nil):
			ok := false
			v.Status, v.OK, code, level = StatusFailed, &ok, VerifyCodeFailed, "error"
			msg = i18n.T(v.Lang, "verifyjob.failed", v.Pack, len(res.Failed()))
		default:
			v.Status, code, level = StatusFailed, VerifyCodeError, "error"
			msg = i18n.T(v.Lang, "verifyjob.error", v.Pack, textutil.Truncate(errText(err), 300))
		}
		v.Message = msg
		if code != "" {
			v.ErrorCode = &code
			detail := msg
			if err != nil {
				detail = textutil.Truncate(err.Error(), 4000)
			}
			v.Detail = &detail
		}
		r.logLocked(v, level, msg)
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
