//go:build integration

package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/webhook"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// opStack is a healthy compose-labelled stack: one running service "app"
// (a tagged image) mounting the named volume <p>_data, and a WAL SQLite
// database on the host. Nothing a doctor would warn about.
type opStack struct {
	cli     *dockertest.Client
	project string
	image   string
	volume  string
	app     string
	db      string
}

func opNewStack(t *testing.T) *opStack {
	t.Helper()
	cli := dockertest.MustClient(t)
	p := strings.ToLower(dockertest.Unique("op"))
	s := &opStack{cli: cli, project: p, image: "dockpack-test/" + p + "-app:1", volume: p + "_data"}
	dockertest.MustTestAppImage(t, cli, s.image)
	dockertest.MustVolume(t, cli, s.volume, dockertest.ComposeVolumeLabels(p, "data"))
	dockertest.MustWriteVolume(t, cli, s.volume, s.image, dockertest.MustTar(t,
		dockertest.TarEntry{Name: "conf/app.ini", Body: []byte("[app]\nname=" + p + "\n")},
		dockertest.TarEntry{Name: "blob.bin", Body: bytes.Repeat([]byte("dockpack "), 10000)}))
	s.app = dockertest.MustContainer(t, cli, dockertest.ContainerSpec{
		Name: p + "_app_1", Image: s.image, Labels: dockertest.ComposeLabels(p, "app", 1), Start: true,
		Mounts: []dockertest.Mount{{Type: "volume", Source: s.volume, Target: "/data"}},
	})
	s.db = MustSmallDB(t, t.TempDir())
	return s
}

// opDoctor runs `dockpack doctor --json` with args and returns the report
// and the exit code.
func opDoctor(t *testing.T, env []string, args ...string) (*doctor.Report, int) {
	t.Helper()
	cmd := exec.Command(dmBinary(t), append([]string{"doctor", "--json", "--log-level", "error"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dockpack doctor: %v", err)
	}
	var rep doctor.Report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("dockpack doctor %v (exit %d): not a JSON report: %v\nstdout: %s\nstderr: %s", args, code, jerr, out.Bytes(), errOut.Bytes())
	}
	return &rep, code
}

func opDump(rep *doctor.Report) string {
	var b strings.Builder
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "  %-9s %-4s %-22s %s | %s\n", c.Name, c.Status, c.Code, c.Summary, c.Detail)
	}
	return b.String()
}

// opExpect checks one check's verdict and code, and the exit code.
func opExpect(t *testing.T, rep *doctor.Report, exit int, name string, status check.Status, code string, wantExit int) check.Check {
	t.Helper()
	c, ok := rep.Check(name)
	if !ok {
		t.Fatalf("no check %s", name)
	}
	if c.Status != status || c.Code != code {
		t.Errorf("%s: %s %s, want %s %s:\n%s", name, c.Status, c.Code, status, code, opDump(rep))
	}
	if exit != wantExit {
		t.Errorf("exit code %d, want %d (report verdict %s)", exit, wantExit, rep.Verdict)
	}
	return c
}

func opEvidence(c check.Check, key string) string {
	var vals []string
	for _, e := range c.Evidence {
		if e.Key == key {
			vals = append(vals, e.Value)
		}
	}
	return strings.Join(vals, "; ")
}

// opPack makes a real pack of the stack in target.
func opPack(t *testing.T, s *opStack, target string) *backup.Result {
	t.Helper()
	res, err := backup.Run(context.Background(), backup.Spec{
		Engine: MustEngine(t), Project: s.project, Target: target, Policy: tmpfsPolicy, SQLitePath: s.db, StagingDir: t.TempDir(),
	}, nil)
	if err != nil {
		t.Fatalf("backup for the doctor test: %v", err)
	}
	return res
}

// opStateDir creates a state DB as the daemon would (a Manager that is
// opened and closed again).
func opStateDir(t *testing.T, s *opStack, target string) string {
	t.Helper()
	dir := t.TempDir()
	set := settings.Default()
	set.TargetLocalDir, set.RagflowProjectName, set.AuthDBPath = target, s.project, s.db
	m, err := jobs.NewManager(context.Background(), jobs.Config{StateDir: dir, Engine: MustEngine(t), Settings: set,
		Policy: tmpfsPolicy, DisableScheduler: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDoctorHealthyAndBroken(t *testing.T) {
	s := opNewStack(t)
	target := MustTmpfs(t, 64<<20)
	res := opPack(t, s, target)
	state := opStateDir(t, s, target)
	staging := t.TempDir()
	base := []string{"--project", s.project, "--target", target, "--sqlite", s.db, "--staging-dir", staging, "--fstype", "tmpfs", "--state-dir", state}

	t.Run("healthy", func(t *testing.T) {
		rep, exit := opDoctor(t, nil, base...)
		if rep.Verdict != check.OK || exit != 0 {
			t.Fatalf("verdict %s, exit %d, want ok and 0:\n%s", rep.Verdict, exit, opDump(rep))
		}
		for _, c := range rep.Checks {
			if c.Status == check.Skip && (c.Name == doctor.CheckStore || c.Name == doctor.CheckEncryption) {
				continue // classic, plaintext packs only: no pack store, nothing sealed
			}
			if c.Status != check.OK {
				t.Errorf("%s: %s %s", c.Name, c.Status, c.Summary)
			}
		}
		packs, _ := rep.Check(doctor.CheckPacks)
		if !strings.Contains(opEvidence(packs, "newest"), res.Name) {
			t.Errorf("packs evidence %v does not name %s", packs.Evidence, res.Name)
		}
		t.Logf("healthy:\n%s", opDump(rep))
	})

	t.Run("settings from the state DB", func(t *testing.T) {
		// No --project/--target/--sqlite: the daemon's settings fill them.
		rep, exit := opDoctor(t, nil, "--staging-dir", staging, "--fstype", "tmpfs", "--state-dir", state)
		if rep.Verdict != check.OK || exit != 0 {
			t.Fatalf("verdict %s, exit %d:\n%s", rep.Verdict, exit, opDump(rep))
		}
	})

	t.Run("wrong fstype", func(t *testing.T) {
		args := append(append([]string{}, base...), "--fstype", "cifs,smb3")
		rep, exit := opDoctor(t, nil, args...)
		c := opExpect(t, rep, exit, doctor.CheckTarget, check.Fail, "target_wrong_fstype", 1)
		if opEvidence(c, "fstype") != "tmpfs" || c.Fix == "" {
			t.Errorf("target check: %+v", c)
		}
	})

	t.Run("full tmpfs", func(t *testing.T) {
		full := MustTmpfs(t, 1<<20)
		f, err := os.Create(filepath.Join(full, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := f.Write(make([]byte, 64<<10)); err != nil {
				break
			}
		}
		f.Close()
		args := append(append([]string{}, base...), "--target", filepath.Join(full, "packs"))
		rep, exit := opDoctor(t, nil, args...)
		opExpect(t, rep, exit, doctor.CheckTarget, check.Fail, "insufficient_space", 1)
	})

	t.Run("unknown project", func(t *testing.T) {
		args := append(append([]string{}, base...), "--project", s.project+"-nope")
		rep, exit := opDoctor(t, nil, args...)
		c := opExpect(t, rep, exit, doctor.CheckStack, check.Fail, "project_not_found", 1)
		if !strings.Contains(opEvidence(c, "known_projects"), s.project) {
			t.Errorf("known projects %q do not list %s", opEvidence(c, "known_projects"), s.project)
		}
	})

	t.Run("stale partial dir", func(t *testing.T) {
		old := filepath.Join(target, pack.PartialPrefix+time.Now().Add(-3*time.Hour).UTC().Format("20060102_150405")+"_000")
		if err := os.Mkdir(old, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(old)
		rep, exit := opDoctor(t, nil, base...)
		c := opExpect(t, rep, exit, doctor.CheckPacks, check.Warn, "stale_partial", 6)
		if !strings.Contains(opEvidence(c, "stale_partial"), filepath.Base(old)) {
			t.Errorf("evidence %v does not name %s", c.Evidence, filepath.Base(old))
		}
	})

	t.Run("WAL database on a read-only mount", func(t *testing.T) {
		ro := MustTmpfs(t, 8<<20)
		db := MustSmallDB(t, ro)
		MustRemountReadOnly(t, ro)
		args := append(append([]string{}, base...), "--sqlite", db)
		rep, exit := opDoctor(t, nil, args...)
		opExpect(t, rep, exit, doctor.CheckSQLite, check.Fail, "sqlite_wal_readonly", 1)
	})
}

// The lock as doctor sees it: through the state DB (read-only, while the
// daemon's Manager holds it) and through the daemon's API; held, then stale.
func TestDoctorLockHeldAndStale(t *testing.T) {
	s := opNewStack(t)
	target := MustTmpfs(t, 64<<20)
	state := t.TempDir()
	set := settings.Default()
	set.TargetLocalDir, set.RagflowProjectName, set.AuthDBPath = target, s.project, s.db
	release := make(chan struct{})
	var once sync.Once
	rel := func() { once.Do(func() { close(release) }) }
	t.Cleanup(rel)
	ctx := context.Background()
	m, err := jobs.NewManager(ctx, jobs.Config{StateDir: state, Engine: MustEngine(t), Settings: set, Policy: tmpfsPolicy,
		DisableScheduler: true, LeaseDuration: time.Minute,
		Run: func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
			select { // a backup that runs until released
			case <-release:
				return nil, fmt.Errorf("%w: released by the test", context.Canceled)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	job, err := m.Start(ctx, jobs.Request{})
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--staging-dir", t.TempDir(), "--fstype", "tmpfs", "--no-images"}
	host, _ := os.Hostname()

	expectHeld := func(t *testing.T, rep *doctor.Report, exit int) {
		t.Helper()
		c := opExpect(t, rep, exit, doctor.CheckLock, check.Warn, "lock_held", 6)
		if got := opEvidence(c, "job_id"); got != fmt.Sprint(job.ID) {
			t.Errorf("job evidence %q, want %d", got, job.ID)
		}
		if got, want := opEvidence(c, "holder"), fmt.Sprintf("host %s pid %d", host, os.Getpid()); !strings.Contains(got, want) {
			t.Errorf("holder %q, want %q", got, want)
		}
		if left := opEvidence(c, "lease_left"); left == "" || strings.Contains(left, "expired") {
			t.Errorf("lease left %q", left)
		}
		if j, _ := rep.Check(doctor.CheckJobs); !strings.Contains(opEvidence(j, "job"), fmt.Sprintf("#%d", job.ID)) {
			t.Errorf("jobs evidence %v does not list job %d", j.Evidence, job.ID)
		}
	}

	t.Run("held, from the state DB", func(t *testing.T) {
		rep, exit := opDoctor(t, nil, append(base, "--state-dir", state)...)
		expectHeld(t, rep, exit)
	})

	t.Run("held, from the daemon's API, in Chinese", func(t *testing.T) {
		token := "op-test-token-0123456789abcdef0123456789"
		h, err := httpapi.New(m, httpapi.Options{Token: token})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		rep, exit := opDoctor(t, []string{"DOCKPACK_TOKEN=" + token, "DOCKPACK_STATE_DIR="}, append(base, "--daemon", srv.URL, "--lang", "zh-CN")...)
		expectHeld(t, rep, exit)
		c, _ := rep.Check(doctor.CheckLock)
		if rep.Lang != "zh-CN" || c.Title != "备份锁" || !strings.Contains(c.Summary, "持有") {
			t.Errorf("zh-CN lock check: lang %s, %q %q", rep.Lang, c.Title, c.Summary)
		}
		if st, _ := rep.Check(doctor.CheckStack); st.Status != check.OK {
			t.Errorf("the project from the daemon's settings: stack %s %s", st.Status, st.Summary)
		}
	})

	rel()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if l, _ := m.Lock(ctx); l.JobID == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock was not released")
		}
		time.Sleep(10 * time.Millisecond)
	}

	t.Run("stale: its owner died", func(t *testing.T) {
		// A second state DB whose lock row names a process of this boot that
		// does not exist: what a killed daemon leaves behind.
		dead := t.TempDir()
		boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
		m2, err := jobs.NewManager(ctx, jobs.Config{StateDir: dead, Engine: MustEngine(t), Settings: set, Policy: tmpfsPolicy,
			DisableScheduler: true, LeaseDuration: time.Hour, PID: 1 << 22, ProcStart: strings.TrimSpace(string(boot)) + "/pid:[1]/1",
			Run: func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m2.Start(ctx, jobs.Request{}); err != nil {
			t.Fatal(err)
		}
		rep, exit := opDoctor(t, nil, append(base, "--state-dir", dead)...)
		c := opExpect(t, rep, exit, doctor.CheckLock, check.Warn, "lock_stale", 6)
		if !strings.Contains(opEvidence(c, "stale_reason"), "not running") {
			t.Errorf("stale reason %q", opEvidence(c, "stale_reason"))
		}
		m2.Close(ctx)
	})
}

// A real `dockpack serve` with metrics and a webhook: one backup succeeds,
// one fails (the target filled up); doctor --daemon shows the failed job and
// the free lock, /metrics (behind the token) counts both, and the webhook
// receiver got both jobs' JSON.
func TestDoctorDaemonJobsMetricsWebhook(t *testing.T) {
	s := opNewStack(t)
	target := MustTmpfs(t, 32<<20)
	var mu sync.Mutex
	var hooks []webhook.Payload
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhook.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		hooks = append(hooks, p)
		mu.Unlock()
	}))
	defer rcv.Close()
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, noSched: true,
		args: []string{"--project", s.project, "--sqlite", s.db, "--webhook-url", rcv.URL + "/dockpack", "--webhook-max-attempts", "2"}})

	ok := d.waitEnded(d.start("db", "volumes", "images").ID, 2*time.Minute)
	if ok.Status != jobs.StatusCompleted {
		t.Fatalf("first backup: %s", dmJobString(ok))
	}
	// The lease is released after the job's end is recorded.
	dmWait(t, 30*time.Second, "the lock free after the first backup", func() bool { return !d.lock().Held })
	// Fill the target: the next backup is refused for lack of space.
	filler := filepath.Join(target, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 256<<10)); err != nil {
			break
		}
	}
	f.Close()
	failed := d.waitEnded(d.start("db", "volumes", "images").ID, 2*time.Minute)
	os.Remove(filler)
	if failed.Status != jobs.StatusFailed || failed.ErrorCode == nil {
		t.Fatalf("second backup: %s", dmJobString(failed))
	}
	code := *failed.ErrorCode
	for deadline := time.Now().Add(30 * time.Second); d.lock().JobID != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the lock was not released after the second job")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// doctor through the daemon's API.
	rep, exit := opDoctor(t, []string{"DOCKPACK_TOKEN=" + dmToken, "DOCKPACK_STATE_DIR="}, "--daemon", d.url, "--fstype", "tmpfs", "--staging-dir", t.TempDir())
	opExpect(t, rep, exit, doctor.CheckJobs, check.Warn, "last_job_failed", 6)
	if l, _ := rep.Check(doctor.CheckLock); l.Status != check.OK {
		t.Errorf("lock after both jobs: %s %s", l.Status, l.Summary)
	}
	if j, _ := rep.Check(doctor.CheckJobs); !strings.Contains(j.Summary, code) {
		t.Errorf("jobs summary %q does not name %s", j.Summary, code)
	}

	// /metrics: behind the token.
	if status, _ := d.do("GET", "/metrics", "", "wrong-token-0123456789abcdef0123456789"); status != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token: %d", status)
	}
	// The job's end reaches the metrics and the webhook just after its final
	// state is stored: poll until both saw the second job.
	var text string
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, body := d.do("GET", "/metrics", "")
		if status != 200 {
			t.Fatalf("/metrics: %d %s", status, body)
		}
		text = string(body)
		mu.Lock()
		n := len(hooks)
		mu.Unlock()
		if n >= 2 && strings.Contains(text, `dockpack_webhook_notifications_total{result="delivered"} 2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second job's end did not reach the webhook (%d notifications) and the metrics:\n%s", n, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`dockpack_job_failures_total{error_code="` + code + `"} 1`,
		`dockpack_jobs_ended_total{kind="full",status="completed"} 1`,
		`dockpack_jobs_ended_total{kind="full",status="failed"} 1`,
		fmt.Sprintf("dockpack_last_success_timestamp_seconds %s", strconvFloat(float64(*ok.FinishedAtMs)/1000)),
		"dockpack_last_job_success 0",
		"dockpack_lock_held 0",
		`dockpack_last_success_component_bytes{component="images"}`,
		`dockpack_last_success_component_duration_seconds{component="volumes"}`,
		`dockpack_webhook_notifications_total{result="delivered"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 2 || hooks[0].Job.ID != ok.ID || hooks[0].Job.Status != jobs.StatusCompleted ||
		hooks[1].Job.ID != failed.ID || hooks[1].Job.ErrorCode == nil || *hooks[1].Job.ErrorCode != code {
		t.Errorf("webhook notifications: %+v", hooks)
	}
}

func strconvFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
