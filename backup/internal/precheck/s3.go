package precheck

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/mountcheck"
)

// SkewWarn is the clock skew between this host and object storage above
// which the target check warns: leases across hosts compare expiry times
// written by one host with another's clock (storage.LeaseOptions.Skew).
const SkewWarn = 30 * time.Second

// s3ProbeTimeout bounds the object storage probe when the options give no
// longer call timeout (a service that does not answer).
const s3ProbeTimeout = 30 * time.Second

// targetS3 is the target check of object storage (a target written
// s3://bucket/prefix): "is this the target I expect" — the bucket exists
// and the credentials reach it; with the probe (ProbeTarget, as the doctor
// and a backup run), a probe object is written, read back, compared and
// deleted; the service's clock is compared with ours. Endpoint, region and
// credentials come from the standard AWS variables and files. There is no
// free space to measure: the evidence says so.
func (c *Checker) targetS3(ctx context.Context, b *Builder) Result {
	b.Evidence("location", c.o.Target)
	t, err := storage.ParseTarget(c.o.Target)
	if err != nil {
		b.Fail(fmt.Errorf("%w: %w", sentinel.ErrInvalidSpec, err), "invalid_spec", c.p.T("precheck.s3.invalid", c.o.Target), c.p.T("precheck.s3.invalid.fix"))
		return b.Result()
	}
	so := c.o.S3
	so.Bucket, so.Prefix = t.Bucket, t.Prefix
	be, err := s3.Open(ctx, so)
	if err != nil {
		b.Fail(fmt.Errorf("%w: %w", sentinel.ErrInvalidSpec, err), "invalid_spec", c.p.T("precheck.s3.invalid", c.o.Target), c.p.T("precheck.s3.invalid.fix"))
		return b.Result()
	}
	defer be.Close()
	endpoint := be.Endpoint()
	if endpoint == "" {
		endpoint = "AWS S3"
	}
	b.Evidence("endpoint", endpoint)
	write := c.o.ProbeTarget && !c.o.Policy.SkipProbe
	pctx, cancel := context.WithTimeout(ctx, max(c.o.CallTimeout, s3ProbeTimeout))
	defer cancel()
	rep, err := be.Probe(pctx, write)
	b.Evidence("region", rep.Region)
	if c.Facts.Required > 0 {
		b.Evidence("pack_needs", UBytes(c.Facts.Required))
	}
	b.Evidence("free", c.p.T("precheck.s3.free_unknown"))
	s3Skew(b, c, rep)
	if err != nil {
		code := s3Code(err)
		b.Evidence("write_probe", "failed at "+rep.Stage)
		// Wrapping mountcheck.ErrProbe gives the failure the target's
		// error code (target_probe_failed) wherever it is reported.
		b.Fail(fmt.Errorf("%w: %w", mountcheck.ErrProbe, err), code, c.p.T("precheck.s3."+code, c.o.Target, endpoint), c.p.T("precheck.s3."+code+".fix", c.o.Target))
		return b.Result()
	}
	if !write {
		b.Evidence("write_probe", "skipped")
		b.OK("precheck.s3.ok_unprobed", c.o.Target, endpoint)
		return b.Result()
	}
	b.Evidence("write_probe", "ok ("+Duration(rep.Duration)+")")
	exclusive := "fallback (write, wait, list, lowest wins)"
	if rep.Conditional {
		exclusive = "If-None-Match"
	}
	b.Evidence("exclusive_create", exclusive)
	if rep.Uploads >= 0 {
		b.Evidence("uploads_in_progress", strconv.Itoa(rep.Uploads))
	}
	b.OK("precheck.s3.ok", c.o.Target, endpoint)
	return b.Result()
}

// s3Skew reports the clock skew, and warns when it is large.
func s3Skew(b *Builder, c *Checker, rep s3.ProbeReport) {
	if !rep.SkewKnown {
		return
	}
	b.Evidence("clock_skew", Duration(rep.ClockSkew))
	if rep.ClockSkew > SkewWarn || rep.ClockSkew < -SkewWarn {
		b.Raise(check.Warn, "clock_skew", c.p.T("precheck.s3.clock_skew", Duration(rep.ClockSkew), Duration(SkewWarn)), c.p.T("precheck.s3.clock_skew.fix"))
	}
}

// s3Code is the check's code for an object storage failure.
func s3Code(err error) string {
	switch {
	case errors.Is(err, s3.ErrNoBucket):
		return "target_no_bucket"
	case errors.Is(err, s3.ErrAccessDenied):
		return "target_access_denied"
	case errors.Is(err, s3.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return "target_unreachable"
	}
	return "target_probe_failed"
}
