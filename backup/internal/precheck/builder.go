package precheck

import (
	"errors"
	"time"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/internal/i18n"
)

// Builder fills one check.Check in one language: its evidence, and its
// findings, of which the first of the worst status names the code, the
// summary and the fix. The doctor builds its own checks with it too.
//
// Catalog keys: the title of check NAME is "check.title.NAME", the label
// of evidence KEY is "check.ev.KEY".
type Builder struct {
	p  i18n.Printer
	c  check.Check
	ok string // the summary when no finding was raised
	// errs are the errors of the failed findings.
	errs []error
}

// NewBuilder starts check name: ok, until a finding says otherwise.
func NewBuilder(p i18n.Printer, name string) *Builder {
	return &Builder{p: p, c: check.Check{Name: name, Title: p.T("check.title." + name), Status: check.OK, Code: "ok"}}
}

// Evidence adds a fact the check saw (values are never translated).
func (b *Builder) Evidence(key, value string) {
	b.c.Evidence = append(b.c.Evidence, check.Evidence{Key: key, Label: b.p.T("check.ev." + key), Value: value})
}

// OK sets the summary shown when no finding is raised.
func (b *Builder) OK(key string, args ...any) { b.ok = b.p.T(key, args...) }

// Raise makes the check at least s; the first finding of the worst status
// names the code, the summary and the fix.
func (b *Builder) Raise(s check.Status, code, summary, fix string) {
	if b.c.Status.Worse(s) == b.c.Status {
		return
	}
	b.c.Status, b.c.Code, b.c.Summary, b.c.Fix = s, code, summary, fix
}

// Fail raises a failure caused by err: err becomes the check's Detail and
// one of the errors of its Result.
func (b *Builder) Fail(err error, code, summary, fix string) {
	b.Raise(check.Fail, code, summary, fix)
	b.errs = append(b.errs, err)
	b.c.Detail = errors.Join(b.errs...).Error()
}

// Detail sets the underlying error of a finding that is not a failure.
func (b *Builder) Detail(detail string) { b.c.Detail = detail }

// Skip marks the check skipped: its inputs were not given (the summary key says which).
func (b *Builder) Skip(key string, args ...any) {
	b.c.Status, b.c.Code, b.c.Summary = check.Skip, "skipped", b.p.T(key, args...)
}

// Result returns the check and the errors of its failures.
func (b *Builder) Result() Result {
	c := b.c
	if c.Summary == "" {
		c.Summary = b.ok
	}
	return Result{Check: c, Err: errors.Join(b.errs...)}
}

// Bytes formats a size for evidence and summaries ("?" when negative: unknown).
func Bytes(n int64) string {
	if n < 0 {
		return "?"
	}
	return units.BytesSize(float64(n))
}

// UBytes formats an unsigned size.
func UBytes(n uint64) string { return units.BytesSize(float64(n)) }

// Duration rounds x to what a person wants to read.
func Duration(x time.Duration) string {
	switch {
	case x < 0:
		return "-" + Duration(-x)
	case x < time.Millisecond:
		return x.Round(time.Microsecond).String()
	case x < time.Second:
		return x.Round(time.Millisecond).String()
	case x < time.Hour:
		return x.Round(time.Second).String()
	}
	return x.Round(time.Minute).String()
}

// When formats a point in time in the local zone ("-" when zero).
func When(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}
