package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/internal/i18n"
)

// A start on RagFlowAuth's routes behaves as its newest backend does:
//   - while a backup runs, the answer is 200 with the running job's id (the
//     page then polls it; with a 409 it would show only 启动失败). The lock
//     held by something that is not a backup job (a drill, a real restore,
//     a verification) is a 409 with a sentence saying so;
//   - the prechecks run before a job exists: a start that cannot work
//     (target not mounted, database missing, project unknown, engine
//     unreachable) is a 400 whose detail is a sentence in Options.Lang,
//     logged and reported to Options.OnStartRefused.
// The native POST /v1/backups keeps 409 with the holder, and its
// prechecks run inside the job.

// StartPrechecker is an optional Backend interface (*jobs.Manager
// implements it): the prechecks of a start, without starting.
type StartPrechecker interface {
	Precheck(ctx context.Context, req jobs.Request) (*backup.PackPlan, error)
}

// compatPrecheckTimeout bounds the precheck of a compat start; beyond it
// the start goes on (the job runs its prechecks itself).
const compatPrecheckTimeout = 20 * time.Second

// compatRun is RagFlowAuth's POST backup/run (database + volumes) and
// backup/run-full (also images when the settings include them).
func (h *handler) compatRun(full bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct{}
		if err := h.decodeObject(w, r, &body); err != nil {
			h.fail(w, r, err)
			return
		}
		ctx := r.Context()
		if id, ok := h.activeJob(ctx); ok {
			writeJSON(w, http.StatusOK, map[string]int64{"job_id": id})
			return
		}
		req := jobs.Request{Full: full, Trigger: triggerManual}
		if err := h.compatPrecheck(ctx, req); err != nil {
			h.refuseStart(w, r, err)
			return
		}
		job, err := h.b.Start(ctx, req)
		var busy *jobs.BusyError
		switch {
		case errors.As(err, &busy):
			h.compatBusy(w, r, busy)
		case errors.Is(err, backup.ErrInvalidSpec):
			h.refuseStart(w, r, err)
		case err != nil:
			h.fail(w, r, err)
		default:
			writeJSON(w, http.StatusOK, map[string]int64{"job_id": job.ID})
		}
	}
}

// activeJob is the backup job holding the lock, when one does and is active.
func (h *handler) activeJob(ctx context.Context) (int64, bool) {
	lr, ok := h.b.(LockReporter)
	if !ok {
		return 0, false
	}
	li, err := lr.Lock(ctx)
	if err != nil || !li.Held {
		return 0, false
	}
	j, err := h.b.Get(ctx, li.JobID)
	return j.ID, err == nil && j.Status.Active()
}

// compatBusy answers a start that lost the race for the lock: 200 with the
// holder's id when it is a running backup, else 409 saying what holds it.
func (h *handler) compatBusy(w http.ResponseWriter, r *http.Request, busy *jobs.BusyError) {
	if j, err := h.b.Get(r.Context(), busy.JobID); err == nil && j.Status.Active() {
		writeJSON(w, http.StatusOK, map[string]int64{"job_id": j.ID})
		return
	}
	h.fail(w, r, &Error{Status: http.StatusConflict, Code: jobs.ErrBusy.Error(), JobID: busy.JobID, Sentence: true,
		Detail: i18n.T(h.opts.Lang, "api.busy_other", busy.JobID)})
}

// compatPrecheck runs the Backend's prechecks of req, bounded; only a
// refusal is an error (a precheck that cannot run lets the start go on).
func (h *handler) compatPrecheck(ctx context.Context, req jobs.Request) error {
	pc, ok := h.b.(StartPrechecker)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, compatPrecheckTimeout)
	defer cancel()
	plan, err := pc.Precheck(ctx, req)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backup.ErrPrecheck) && plan != nil && len(check.Failed(plan.Checks)) > 0:
		return &precheckRefusal{checks: check.Failed(plan.Checks), err: err}
	case errors.Is(err, backup.ErrInvalidSpec):
		return err
	}
	h.log.Warn("the precheck of a start could not run; starting anyway (the job runs it)", zap.Error(err))
	return nil
}

// precheckRefusal is a start refused by its prechecks.
type precheckRefusal struct {
	checks []check.Check
	err    error
}

func (p *precheckRefusal) Error() string { return p.err.Error() }
func (p *precheckRefusal) Unwrap() error { return p.err }

// refuseStart answers a start refused before a job exists: 400, its code,
// and a sentence in Options.Lang; it is logged and counted.
func (h *handler) refuseStart(w http.ResponseWriter, r *http.Request, err error) {
	code, sentence := "precheck_failed", ""
	var pr *precheckRefusal
	if errors.As(err, &pr) {
		var why []string
		for _, c := range pr.checks {
			s := c.Summary
			if s == "" {
				s = c.Detail
			}
			why = append(why, s)
		}
		if pr.checks[0].Code != "" {
			code = pr.checks[0].Code
		}
		sentence = i18n.T(h.opts.Lang, "api.start_refused", strings.Join(why, i18n.T(h.opts.Lang, "api.list_sep")))
	} else {
		detail := trimSentinel(err, backup.ErrInvalidSpec)
		code, _, _ = strings.Cut(detail, ":")
		if key := "api.refused." + code; i18n.Has(h.opts.Lang, key) {
			sentence = i18n.T(h.opts.Lang, key)
		} else {
			code, sentence = CodeInvalidSpec, i18n.T(h.opts.Lang, "api.start_refused", detail)
		}
	}
	h.log.Warn("backup start refused before a job was created", zap.String("code", code), zap.String("path", r.URL.Path), zap.String("detail", sentence))
	if h.opts.OnStartRefused != nil {
		h.opts.OnStartRefused(code)
	}
	h.fail(w, r, &Error{Status: http.StatusBadRequest, Code: code, Detail: sentence, Sentence: true})
}
