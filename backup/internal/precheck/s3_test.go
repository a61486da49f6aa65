package precheck_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
	"github.com/dockpack/dockpack/internal/i18n"
)

// s3Target runs the target check alone on an s3:// target with the
// server's endpoint and credentials in the standard AWS variables.
func s3Target(t *testing.T, srv *s3test.Server, target string, probe bool, lang string) precheck.Result {
	t.Helper()
	c, err := precheck.New(precheck.Options{Target: target, ProbeTarget: probe, Lang: lang, Code: backup.ErrorCode, ErrNothingToBackUp: backup.ErrNothingToBackUp})
	if err != nil {
		t.Fatal(err)
	}
	return c.Target(context.Background())
}

func s3Env(t *testing.T, srv *s3test.Server, secret string) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", srv.Endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", srv.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
}

func evidence(c check.Check, key string) string {
	for _, e := range c.Evidence {
		if e.Key == key {
			return e.Value
		}
	}
	return ""
}

// TestTargetS3: "is this the target I expect" for object storage — the
// bucket answers, a probe object is written, read back and deleted, the
// clock skew is reported; a missing bucket, refused credentials and a
// service that does not answer fail before harm with their own codes and
// the target's error code, in both languages.
func TestTargetS3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "precheck")
	s3Env(t, srv, srv.Secret)
	target := "s3://" + bucket + "/site-a"

	r := s3Target(t, srv, target, true, "en")
	if r.Err != nil || r.Check.Status != check.OK {
		t.Fatalf("probe of a good target: %+v, %v", r.Check, r.Err)
	}
	for _, k := range []string{"location", "endpoint", "region", "clock_skew", "write_probe", "exclusive_create", "uploads_in_progress", "free"} {
		if evidence(r.Check, k) == "" {
			t.Errorf("no %s in the evidence: %+v", k, r.Check.Evidence)
		}
	}
	if !strings.HasPrefix(evidence(r.Check, "write_probe"), "ok") || evidence(r.Check, "exclusive_create") != "If-None-Match" {
		t.Errorf("evidence %+v", r.Check.Evidence)
	}
	if r := s3Target(t, srv, target, false, "en"); r.Err != nil || evidence(r.Check, "write_probe") != "skipped" {
		t.Errorf("without the probe: %+v, %v", r.Check, r.Err)
	}

	for name, c := range map[string]struct {
		target, secret, code string
		kill                 bool
	}{
		"missing bucket":    {target: "s3://no-such-bucket/p", secret: srv.Secret, code: "target_no_bucket"},
		"wrong credentials": {target: target, secret: "wrong", code: "target_access_denied"},
		"invalid target":    {target: "s3://Bad_Bucket/p", secret: srv.Secret, code: "invalid_spec"},
		"service not there": {target: target, secret: srv.Secret, code: "target_unreachable", kill: true},
	} {
		t.Run(name, func(t *testing.T) {
			s3Env(t, srv, c.secret)
			if c.kill {
				srv.Kill()
				defer srv.Restart(t)
			}
			for _, lang := range []string{"en", "zh-CN"} {
				r := s3Target(t, srv, c.target, true, lang)
				if r.Err == nil || r.Check.Status != check.Fail || r.Check.Code != c.code {
					t.Fatalf("%s: %+v, %v; want a failure with code %s", lang, r.Check, r.Err, c.code)
				}
				if strings.Contains(r.Check.Summary, "precheck.") || strings.Contains(r.Check.Fix, "precheck.") || r.Check.Fix == "" {
					t.Errorf("%s: untranslated summary or fix: %q / %q", lang, r.Check.Summary, r.Check.Fix)
				}
				if strings.Contains(r.Check.Detail, srv.Secret) || strings.Contains(r.Err.Error(), srv.Secret) {
					t.Errorf("the secret shows in %q", r.Check.Detail)
				}
				if lang == i18n.Chinese && r.Check.Summary == i18n.T("en", "precheck.s3."+c.code) {
					t.Errorf("zh-CN summary is English")
				}
				want := "target_probe_failed"
				if c.code == "invalid_spec" {
					want = "invalid_spec"
				}
				if got := backup.ErrorCode(r.Err); got != want {
					t.Errorf("ErrorCode = %s, want %s", got, want)
				}
			}
		})
	}
}
