package doctor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/internal/textutil"
)

// stateMissing ends a state check that has no state to read: skipped
// (nothing given, or StateDesc names where none was found), or failed with
// StateErr.
func (d *doctor) stateMissing(b *precheck.Builder) bool {
	switch {
	case d.o.State != nil:
		return false
	case d.o.StateErr != nil:
		d.stateUnreadable(b, d.o.StateErr)
	case d.o.StateDesc != "":
		b.Skip("doctor.state.none", d.o.StateDesc)
	default:
		b.Skip("doctor.state.skip")
	}
	return true
}

func (d *doctor) stateUnreadable(b *precheck.Builder, err error) {
	b.Fail(err, "state_unreadable", d.p.T("doctor.state.unreadable"), d.p.T("doctor.state.unreadable.fix"))
}

// lock reports the lease lock: free, held (by which job, host and pid, how
// much lease is left) or stale (the next start takes it over).
func (d *doctor) lock(ctx context.Context) precheck.Result {
	b := d.begin(CheckLock)
	if d.o.StateDesc != "" && (d.o.State != nil || d.o.StateErr != nil) {
		b.Evidence("state_source", d.o.StateDesc)
	}
	if d.stateMissing(b) {
		return b.Result()
	}
	l, err := d.o.State.Lock(ctx)
	if err != nil {
		d.stateUnreadable(b, err)
		return b.Result()
	}
	if l.JobID == 0 && !l.Held && !l.Stale {
		b.OK("doctor.lock.free")
		return b.Result()
	}
	b.Evidence("job_id", strconv.FormatInt(l.JobID, 10))
	b.Evidence("holder", fmt.Sprintf("host %s pid %d (owner %s…)", l.Host, l.PID, l.OwnerToken))
	b.Evidence("acquired_at", precheck.When(l.AcquiredAt)+" ("+d.p.T("doctor.ago", precheck.Duration(d.now.Sub(l.AcquiredAt)))+")")
	b.Evidence("renewed_at", precheck.When(l.RenewedAt))
	left := l.ExpiresAt.Sub(d.now)
	if left >= 0 {
		b.Evidence("lease_left", precheck.Duration(left))
	} else {
		b.Evidence("lease_left", d.p.T("doctor.lock.expired_ago", precheck.Duration(-left)))
	}
	if l.Stale {
		b.Evidence("stale_reason", l.StaleReason)
		b.Raise(check.Warn, "lock_stale", d.p.T("doctor.lock.stale", l.JobID, l.Host, l.PID), d.p.T("doctor.lock.stale.fix"))
		return b.Result()
	}
	b.Raise(check.Warn, "lock_held", d.p.T("doctor.lock.held", l.JobID, l.Host, l.PID, precheck.Duration(max(left, 0))), d.p.T("doctor.lock.held.fix", l.JobID))
	return b.Result()
}

// jobs lists the recent jobs and warns when the last finished one failed
// or was canceled.
func (d *doctor) jobs(ctx context.Context) precheck.Result {
	b := d.begin(CheckJobs)
	if d.stateMissing(b) {
		return b.Result()
	}
	recent, err := d.o.State.List(ctx, jobs.ListOptions{Limit: d.o.Jobs})
	if err != nil {
		d.stateUnreadable(b, err)
		return b.Result()
	}
	if len(recent) == 0 {
		b.OK("doctor.jobs.none")
		return b.Result()
	}
	var last *jobs.Job
	for i, j := range recent {
		b.Evidence("job", d.jobLine(j))
		if last == nil && !j.Status.Active() {
			last = &recent[i]
		}
	}
	b.OK("doctor.jobs.ok", len(recent))
	if last == nil {
		return b.Result()
	}
	switch last.Status {
	case jobs.StatusCompleted:
		b.OK("doctor.jobs.last_ok", last.ID, precheck.When(msTime(last.FinishedAtMs)))
	case jobs.StatusFailed:
		b.Raise(check.Warn, "last_job_failed", d.p.T("doctor.jobs.last_failed", last.ID, deref(last.ErrorCode)), d.p.T("doctor.jobs.last_failed.fix"))
		b.Detail(deref(last.Detail))
	case jobs.StatusCanceled:
		b.Raise(check.Warn, "last_job_canceled", d.p.T("doctor.jobs.last_canceled", last.ID, deref(last.CancelReason)), "")
	}
	return b.Result()
}

func (d *doctor) jobLine(j jobs.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s %d%%", j.ID, j.Kind, j.Status, j.Progress)
	fmt.Fprintf(&b, " %s", precheck.When(time.UnixMilli(j.CreatedAtMs)))
	if j.StartedAtMs != nil && j.FinishedAtMs != nil {
		fmt.Fprintf(&b, " (%s)", precheck.Duration(time.Duration(*j.FinishedAtMs-*j.StartedAtMs)*time.Millisecond))
	}
	if j.ErrorCode != nil {
		fmt.Fprintf(&b, " error_code=%s", *j.ErrorCode)
	}
	if j.Status == jobs.StatusFailed && j.Detail != nil {
		fmt.Fprintf(&b, ": %s", textutil.Truncate(*j.Detail, 240))
	}
	if j.Status == jobs.StatusCompleted && j.PackName != nil {
		fmt.Fprintf(&b, " %s %s", *j.PackName, precheck.Bytes(j.BytesDone))
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
