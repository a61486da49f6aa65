package verifier

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/textutil"
)

// run is one verification in flight (or ended): its state, guarded by mu,
// and a channel closed at every change (watchers wait on it).
type run struct {
	mu      sync.Mutex
	v       Verification
	changed chan struct{}
	cancel  context.CancelCauseFunc
	now     func() time.Time
}

// update changes the state under the lock and wakes the watchers.
func (r *run) update(f func(v *Verification)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.v)
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot is a copy of the state and the channel closed at its next change.
func (r *run) snapshot() (Verification, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.v
	v.Log = slices.Clone(r.v.Log)
	return v, r.changed
}

// status is the run's status.
func (r *run) status() jobs.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.v.Status
}

// logLocked appends a log line (under update).
func (r *run) logLocked(v *Verification, level, msg string) {
	v.Log = append(v.Log, jobs.LogLine{AtMs: r.now().UnixMilli(), Level: level, Message: msg})
	if over := len(v.Log) - logMax; over > 0 {
		v.Log = v.Log[over:]
	}
}

// progress records a progress report (the percentage never goes back) and
// logs each new file.
func (r *run) progress(lang string, p progress.Report) {
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
func (r *run) finish(res *pack.VerifyResult, err error) {
	r.update(func(v *Verification) {
		at := r.now().UnixMilli()
		v.FinishedAt, v.Result = &at, res
		v.BytesTotal = max(v.BytesTotal, v.BytesDone) // the manifest and SHA256SUMS are read beyond the estimate
		code, msg, level := "", "", "info"
		switch {
		case errors.Is(err, context.Canceled):
			v.Status, code, level = jobs.StatusCanceled, CodeCanceled, "warn"
			msg = i18n.T(v.Lang, "verifyjob.canceled", v.Pack, textutil.Truncate(errText(err), 300))
		case err == nil && res != nil && res.OK:
			ok := true
			v.Status, v.OK, v.Progress = jobs.StatusCompleted, &ok, 100
			msg = i18n.T(v.Lang, "verifyjob.passed", v.Pack, len(res.Checks))
		case errors.Is(err, pack.ErrVerify) || (err == nil && res != nil):
			ok := false
			v.Status, v.OK, code, level = jobs.StatusFailed, &ok, CodeFailed, "error"
			msg = i18n.T(v.Lang, "verifyjob.failed", v.Pack, len(res.Failed()))
		default:
			v.Status, code, level = jobs.StatusFailed, CodeError, "error"
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
