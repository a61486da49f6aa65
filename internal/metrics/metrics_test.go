package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/webhook"
	"github.com/dockpack/dockpack/internal/metrics"
	"github.com/dockpack/dockpack/mountcheck"
)

var (
	mtLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (\S+)$`)
	mtMeta = regexp.MustCompile(`^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
)

// mtParse checks the text format line by line and returns the samples by
// "name{labels}".
func mtParse(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if m := mtMeta.FindStringSubmatch(l); m != nil {
			if m[1] == "TYPE" {
				if typed[m[2]] {
					t.Errorf("TYPE of %s twice", m[2])
				}
				typed[m[2]] = true
				if !strings.Contains(" counter gauge untyped ", " "+m[3]+" ") {
					t.Errorf("bad type %q", l)
				}
			}
			continue
		}
		m := mtLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not an exposition line: %q", l)
			continue
		}
		if !typed[m[1]] {
			t.Errorf("sample %s before its TYPE line", m[1])
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Errorf("value of %q: %v", l, err)
		}
		out[m[1]+m[2]] = v
	}
	return out
}

func mtScrape(t *testing.T, h http.Handler) (map[string]float64, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), metrics.ContentType) {
		t.Fatalf("scrape: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return mtParse(t, string(b)), string(b)
}

func mtWaitEnded(t *testing.T, m *jobs.Manager, id int64) jobs.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !j.Status.Active() {
			if l, _ := m.Lock(context.Background()); l.JobID == 0 {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d did not end", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetricsAfterSuccessAndFailure(t *testing.T) {
	ctx := context.Background()
	col := metrics.New(metrics.Options{Version: "test"})
	outcome := make(chan error, 1)
	reached := make(chan struct{}, 1)
	stub := func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
		p(progress.Report{Step: progress.StepVolumes, Percent: 40, BytesDone: 400, BytesTotal: 1000,
			Store: map[string]progress.ComponentBytes{"volumes": {ReadBytes: 400, NewRawBytes: 40, NewBytes: 30, ReusedRawBytes: 360}}})
		reached <- struct{}{}
		if err := <-outcome; err != nil {
			return nil, err
		}
		return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_x"), Name: "migration_pack_x", Bytes: 1000,
			Manifest: &pack.Manifest{Files: []pack.FileEntry{
				{Path: "app.db", Kind: pack.FileSQLite, Size: 100},
				{Path: "volumes/a.tar", Kind: pack.FileVolume, Size: 200},
				{Path: "volumes/b.tar", Kind: pack.FileVolume, Size: 300},
				{Path: "images.tar", Kind: pack.FileImages, Size: 400},
			}},
			Steps: map[progress.Step]time.Duration{progress.StepSQLite: time.Second, progress.StepVolumes: 2 * time.Second, progress.StepImages: 3 * time.Second},
			Store: backup.StoreStats{"db": {ReadBytes: 100, NewRawBytes: 100, NewBytes: 50, NewBlobs: 1},
				"volumes": {ReadBytes: 500, NewRawBytes: 20, NewBytes: 10, NewBlobs: 1, ReusedRawBytes: 480, ReusedBlobs: 3}}}, nil
	}
	dir := t.TempDir()
	set := settings.Default()
	set.TargetLocalDir, set.RagflowProjectName, set.AuthDBPath = filepath.Join(dir, "packs"), "demo", "/srv/app.db"
	m, err := jobs.NewManager(ctx, jobs.Config{StateDir: dir, Engine: backuptest.NewEngine(), Settings: set, DisableScheduler: true,
		Run: col.WrapRun(stub), OnJobEnd: col.JobEnded})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	col.Attach(m)

	got, _ := mtScrape(t, col.Handler())
	for k, want := range map[string]float64{`dockpack_build_info{version="test"}`: 1, "dockpack_lock_held": 0, "dockpack_job_in_progress": 0, "dockpack_state_up": 1} {
		if got[k] != want {
			t.Errorf("before any job: %s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["dockpack_last_success_timestamp_seconds"]; ok {
		t.Error("a last success before any job")
	}

	// A job in progress.
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	got, _ = mtScrape(t, col.Handler())
	for k, want := range map[string]float64{"dockpack_job_in_progress": 1, "dockpack_lock_held": 1, "dockpack_job_running_here": 1,
		"dockpack_job_progress_percent": 40, "dockpack_job_progress_bytes": 400, "dockpack_job_progress_bytes_estimate": 1000,
		`dockpack_job_store_bytes{component="volumes",kind="read"}`: 400, `dockpack_job_store_bytes{component="volumes",kind="new"}`: 30,
		`dockpack_job_store_bytes{component="volumes",kind="new_raw"}`: 40, `dockpack_job_store_bytes{component="volumes",kind="reused"}`: 360} {
		if got[k] != want {
			t.Errorf("while running: %s = %v, want %v", k, got[k], want)
		}
	}
	if age := got["dockpack_lock_holder_age_seconds"]; age < 0 || age > 60 {
		t.Errorf("holder age %v", age)
	}
	if left := got["dockpack_lock_lease_remaining_seconds"]; left <= 0 {
		t.Errorf("lease left %v", left)
	}

	// It succeeds.
	outcome <- nil
	okJob := mtWaitEnded(t, m, job.ID)
	got, _ = mtScrape(t, col.Handler())
	for k, want := range map[string]float64{
		`dockpack_jobs_ended_total{kind="incremental",status="completed"}`:      1,
		`dockpack_last_success_component_bytes{component="db"}`:                 100,
		`dockpack_last_success_component_bytes{component="volumes"}`:            500,
		`dockpack_last_success_component_bytes{component="images"}`:             400,
		`dockpack_last_success_component_duration_seconds{component="db"}`:      1,
		`dockpack_last_success_component_duration_seconds{component="volumes"}`: 2,
		`dockpack_last_success_component_duration_seconds{component="images"}`:  3,
		"dockpack_last_success_timestamp_seconds":                               float64(*okJob.FinishedAtMs) / 1000,
		"dockpack_last_success_bytes":                                           1000,
		`dockpack_last_success_store_bytes{component="db",kind="read"}`:         100,
		`dockpack_last_success_store_bytes{component="db",kind="new"}`:          50,
		`dockpack_last_success_store_bytes{component="volumes",kind="read"}`:    500,
		`dockpack_last_success_store_bytes{component="volumes",kind="new"}`:     10,
		`dockpack_last_success_store_bytes{component="volumes",kind="new_raw"}`: 20,
		`dockpack_last_success_store_bytes{component="volumes",kind="reused"}`:  480,
		"dockpack_last_job_success":                                             1,
		"dockpack_job_in_progress":                                              0,
		"dockpack_job_running_here":                                             0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("after a success: %s = %v (present %v), want %v", k, v, ok, want)
		}
	}

	// The next one fails: refused by the mount check.
	job, err = m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	outcome <- &backup.StepError{Step: progress.StepPrecheck, Err: fmt.Errorf("%w: /mnt/replica is on ext4", mountcheck.ErrFSType)}
	failed := mtWaitEnded(t, m, job.ID)
	if failed.ErrorCode == nil || *failed.ErrorCode != "target_wrong_fstype" {
		t.Fatalf("failed job: %+v", failed)
	}
	got, text := mtScrape(t, col.Handler())
	for k, want := range map[string]float64{
		`dockpack_job_failures_total{error_code="target_wrong_fstype"}`:    1,
		`dockpack_jobs_ended_total{kind="incremental",status="failed"}`:    1,
		`dockpack_jobs_ended_total{kind="incremental",status="completed"}`: 1,
		"dockpack_last_job_success":                                        0,
		"dockpack_last_success_timestamp_seconds":                          float64(*okJob.FinishedAtMs) / 1000,
		`dockpack_last_success_component_bytes{component="volumes"}`:       500,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("after a failure: %s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	t.Logf("scrape after a success and a failure:\n%s", text)
}

func TestMetricsExpositionEscapes(t *testing.T) {
	col := metrics.New(metrics.Options{Version: "v\"1\"\\\nx", Webhook: func() webhook.Stats { return webhook.Stats{Delivered: 2, Failed: 1} }})
	col.JobEnded(jobs.Job{Status: jobs.StatusFailed, Kind: jobs.KindFull})
	code := `we"ird\code`
	col.JobEnded(jobs.Job{Status: jobs.StatusFailed, Kind: jobs.KindFull, ErrorCode: &code})
	var b strings.Builder
	if err := col.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	got := mtParse(t, b.String())
	for k, want := range map[string]float64{
		`dockpack_build_info{version="v\"1\"\\\nx"}`:               1,
		`dockpack_job_failures_total{error_code="failed"}`:         1,
		`dockpack_job_failures_total{error_code="we\"ird\\code"}`:  1,
		`dockpack_webhook_notifications_total{result="delivered"}`: 2,
		`dockpack_webhook_notifications_total{result="failed"}`:    1,
		`dockpack_jobs_ended_total{kind="full",status="failed"}`:   2,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v\n%s", k, got[k], want, b.String())
		}
	}
}

func TestMetricsHandlerMethods(t *testing.T) {
	srv := httptest.NewServer(metrics.New(metrics.Options{}).Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
}

// A source that fails is reported as dockpack_state_up 0, not as a failed scrape.
type mtBroken struct{}

func (mtBroken) Lock(context.Context) (jobs.LockInfo, error) {
	return jobs.LockInfo{}, errors.New("locked")
}
func (mtBroken) List(context.Context, jobs.ListOptions) ([]jobs.Job, error) {
	return nil, errors.New("locked")
}
func (mtBroken) ScheduleStatus(context.Context) (jobs.ScheduleStatus, error) {
	return jobs.ScheduleStatus{}, errors.New("locked")
}

func TestMetricsStateDown(t *testing.T) {
	col := metrics.New(metrics.Options{})
	col.Attach(mtBroken{})
	if got, _ := mtScrape(t, col.Handler()); got["dockpack_state_up"] != 0 {
		t.Errorf("dockpack_state_up = %v", got["dockpack_state_up"])
	}
}
