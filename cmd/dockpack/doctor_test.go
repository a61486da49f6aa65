package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

func TestTextWidth(t *testing.T) {
	for s, want := range map[string]int{"target": 6, "备份目标": 8, "Compose 栈": 10, "[正常]": 6, "": 0} {
		if got := textWidth(s); got != want {
			t.Errorf("textWidth(%q) = %d, want %d", s, got, want)
		}
	}
	if got := padRight("锁", 4); got != "锁  " {
		t.Errorf("padRight = %q", got)
	}
}

func opReport(lang string) *doctor.Report {
	title := map[string][2]string{"en": {"target", "lock"}, "zh-CN": {"备份目标", "备份锁"}}[lang]
	return &doctor.Report{Verdict: check.Warn, Lang: lang, Host: "h", At: time.Unix(0, 0),
		Checks: []check.Check{
			{Name: "target", Title: title[0], Status: check.OK, Code: "ok", Summary: "fine",
				Evidence: []check.Evidence{{Key: "fstype", Label: "fstype", Value: "cifs"}}},
			{Name: "lock", Title: title[1], Status: check.Warn, Code: "lock_stale", Summary: "stale", Fix: "nothing to do"},
			{Name: "jobs", Title: "jobs", Status: check.Skip, Code: "skipped", Summary: "not checked"},
		}}
}

func TestPrintDoctorAlignsAndShowsCodes(t *testing.T) {
	for _, lang := range []string{"en", "zh-CN"} {
		var b bytes.Buffer
		printDoctor(&b, opReport(lang), false)
		out := b.String()
		var cols []int
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "[") {
				i := strings.Index(l, "fine")
				if i < 0 {
					i = strings.Index(l, "stale")
				}
				if i < 0 {
					i = strings.Index(l, "not checked")
				}
				cols = append(cols, textWidth(l[:i]))
			}
		}
		if len(cols) != 3 || cols[0] != cols[1] || cols[1] != cols[2] {
			t.Errorf("%s: summaries start at columns %v:\n%s", lang, cols, out)
		}
		if !strings.Contains(out, "lock_stale") || !strings.Contains(out, "nothing to do") {
			t.Errorf("%s: the warning's code and fix are missing:\n%s", lang, out)
		}
	}
	var b bytes.Buffer
	printDoctor(&b, opReport("zh-CN"), true)
	if !strings.Contains(b.String(), "[警告]") || strings.Contains(b.String(), "cifs") {
		t.Errorf("brief zh-CN:\n%s", b.String())
	}
}

func opPlan() *backup.PackPlan {
	return &backup.PackPlan{
		Project: "demo", Target: "/mnt/replica/packs", Components: []pack.Component{pack.ComponentDB, pack.ComponentVolumes, pack.ComponentImages},
		Engine: dockerapi.EngineInfo{Version: "20.10.24", APIVersion: "1.41", ImageStore: "graphdriver", DataRoot: "/var/lib/docker"},
		Stack: dockerapi.Stack{
			Images:  []dockerapi.Image{{ID: "sha256:" + strings.Repeat("b", 64), Size: 5 << 20, Containers: []string{"demo_tool_1"}}, {ID: "sha256:aa", RepoTags: []string{"demo/app:1"}, Size: 7 << 20, Containers: []string{"demo_app_1"}}},
			Volumes: []dockerapi.Volume{{Name: "demo_data", Size: -1, UsedBy: []dockerapi.VolumeUser{{ContainerName: "demo_app_1"}}}},
		},
		Estimate:     backup.Estimate{DB: 1 << 20, Images: 10 << 20, VolumeSizes: map[string]int64{"demo_data": -1}},
		Required:     11 << 20 * 11 / 10,
		TargetReport: mountcheck.Report{MountPoint: "/mnt/replica", FSType: "cifs", Source: "//nas/backup", FreeBytes: 600 << 30},
		StagingDir:   "/tmp", StagingFree: 10 << 30, DataRootFree: 40 << 30, DataRootChecked: true,
		Stop: []dockerapi.Container{{Name: "demo_app_1"}},
		Skipped: []pack.SkipEntry{
			{Kind: "anonymous", Source: "f00", Destination: "/cache", Container: "demo_app_1", Reason: "anonymous volume"},
			{Kind: "bind", Source: "/srv/data", Destination: "/data", Container: "demo_app_1", Reason: "bind mount"},
			{Kind: "weird", Source: "x", Reason: "some reason"},
		},
		Checks: []check.Check{{Name: "engine", Status: check.OK}, {Name: "target", Status: check.OK}},
	}
}

func TestPrintPlan(t *testing.T) {
	var en, zh bytes.Buffer
	printPlan(&en, i18n.For("en"), opPlan(), nil, "/srv/data/auth.db")
	printPlan(&zh, i18n.For("zh-CN"), opPlan(), nil, "/srv/data/auth.db")
	for _, want := range []string{"demo/app:1", "7MiB", "bbbbbbbbbbbb", "untagged", "unknown", "11MiB", "600GiB free", "~12.1MiB (estimate + 10%)",
		"stopped during the volume step: demo_app_1", "the database itself is in the pack", "some reason", "the backup would run"} {
		if !strings.Contains(en.String(), want) {
			t.Errorf("en plan lacks %q:\n%s", want, en.String())
		}
	}
	for _, want := range []string{"合计", "匿名卷", "绑定挂载", "备份可以执行", "未知"} {
		if !strings.Contains(zh.String(), want) {
			t.Errorf("zh-CN plan lacks %q:\n%s", want, zh.String())
		}
	}
	// The table's size column starts at the same terminal column in every row.
	for _, out := range []string{en.String(), zh.String()} {
		col := -1
		for _, l := range strings.Split(out, "\n") {
			for _, size := range []string{"1MiB", "7MiB", "5MiB"} {
				if i := strings.Index(l, " "+size+" "); i > 0 && !strings.Contains(l, "→") {
					c := textWidth(l[:i+1])
					if col >= 0 && c != col {
						t.Errorf("size column at %d, earlier %d:\n%s", c, col, out)
					}
					col = c
				}
			}
		}
	}
}

func TestPlanJSON(t *testing.T) {
	p := opPlan()
	p.Checks = append(p.Checks, check.Check{Name: "staging", Status: check.Fail, Code: "insufficient_space", Detail: "staging full"})
	j := planJSONOf(p, errors.New("refused"), "/srv/data/auth.db")
	b, _ := json.Marshal(j)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["ok"] != false || m["estimate_bytes"].(float64) != 11<<20 || len(m["items"].([]any)) != 4 || m["data_root_free_bytes"].(float64) != 40<<30 {
		t.Errorf("plan JSON: %s", b)
	}
	if !strings.Contains(string(b), `"error_code":"insufficient_space"`) {
		t.Errorf("failed check without its error code: %s", b)
	}
}

func TestDaemonClient(t *testing.T) {
	const token = "doctor-test-token-0123456789abcdef0123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"unauthorized"}`))
			return
		}
		switch r.URL.Path {
		case "/v1/lock":
			json.NewEncoder(w).Encode(jobs.LockInfo{Held: true, JobID: 4, Host: "nas", PID: 9})
		case "/v1/jobs":
			if r.URL.Query().Get("limit") != "3" {
				t.Errorf("limit %q", r.URL.Query().Get("limit"))
			}
			json.NewEncoder(w).Encode(map[string]any{"jobs": []jobs.Job{{ID: 4, Status: jobs.StatusRunning}}})
		case "/v1/settings":
			json.NewEncoder(w).Encode(settings.Settings{TargetLocalDir: "/mnt/replica/packs", RagflowProjectName: "ragflow"})
		}
	}))
	defer srv.Close()
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte(token+"\n"), 0o600)
	t.Setenv("DOCKPACK_TOKEN", "")
	dc, err := newDaemonClient(srv.URL+"/", tokFile, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if l, err := dc.Lock(ctx); err != nil || !l.Held || l.JobID != 4 {
		t.Errorf("lock %+v %v", l, err)
	}
	if recent, err := dc.List(ctx, jobs.ListOptions{Limit: 3}); err != nil || len(recent) != 1 {
		t.Errorf("recent %+v %v", recent, err)
	}
	if s, err := dc.Settings(ctx); err != nil || s.RagflowProjectName != "ragflow" {
		t.Errorf("settings %+v %v", s, err)
	}
	os.WriteFile(tokFile, []byte("wrong-token-0123456789abcdef0123456789"), 0o600)
	dc, _ = newDaemonClient(srv.URL, tokFile, "")
	if _, err := dc.Lock(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a wrong token: %v", err)
	}
	for _, bad := range []string{"ftp://x", "localhost:8420", "http://"} {
		if _, err := newDaemonClient(bad, tokFile, ""); err == nil {
			t.Errorf("--daemon %q accepted", bad)
		}
	}
}

func TestDoctorCommand(t *testing.T) {
	run := func(args ...string) (string, int) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), exitCode(err)
	}
	t.Setenv("DOCKPACK_STATE_DIR", "")
	if _, code := run("doctor", "--lang", "fr"); code != exitUsage {
		t.Errorf("--lang fr: exit %d", code)
	}
	if _, code := run("doctor", "--state-dir", filepath.Join(t.TempDir(), "nope")); code != exitUsage {
		t.Errorf("a missing --state-dir: exit %d", code)
	}
	if _, code := run("plan", "--lang", "xx"); code != exitUsage {
		t.Errorf("plan --lang xx: exit %d", code)
	}
	for _, cmd := range []string{"plan", "backup"} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{cmd, "--pack-mode", "0777", "--log-level", "error"})
		if err := root.Execute(); exitCode(err) != exitUsage || !strings.Contains(fmt.Sprint(err), `--pack-mode: pack mode "0777": use 0600 (default), 0640 or 0644`) {
			t.Errorf("%s --pack-mode 0777: exit %d: %v", cmd, exitCode(err), err)
		}
	}
	// No engine: a finding, not a crash.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	out, code := run("doctor", "--json", "--log-level", "error", "--staging-dir", t.TempDir(), "--project", "demo", "--check-timeout", "5s")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not a report: %v\n%s", err, out)
	}
	c, _ := rep.Check(doctor.CheckEngine)
	if code != exitFailure || c.Status != check.Fail || c.Code != "engine_unreachable" {
		t.Errorf("no engine: exit %d, engine %s %s", code, c.Status, c.Code)
	}
	if st, _ := rep.Check(doctor.CheckStack); st.Status != check.Skip {
		t.Errorf("stack without an engine: %s", st.Status)
	}
	// plan without an engine: the precheck refuses (exit 3), the table says why.
	out, code = run("plan", "--project", "demo", "--target", t.TempDir(), "--any-fstype", "--allow-root-fs", "--log-level", "error")
	if code != exitPrecheck || !strings.Contains(out, "engine_unreachable") {
		t.Errorf("plan without an engine: exit %d:\n%s", code, out)
	}
}

func TestServeConfigLangMetricsWebhook(t *testing.T) {
	c, err := mustServeConfig(t, nil, nil, "")
	if err != nil || !c.Metrics || c.Webhook.URL != "" || c.lang() != "en" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	yml := "lang: zh-CN\nmetrics: false\nwebhook:\n  url: https://ops.example/hook\n  secret: hush-hush\n  max_attempts: 3\n"
	c, err = mustServeConfig(t, []string{"--webhook-timeout", "3s"}, map[string]string{"DOCKPACK_WEBHOOK_SECRET": "from-env-secret"}, yml)
	if err != nil {
		t.Fatal(err)
	}
	w := c.webhook()
	if c.lang() != "zh-CN" || c.Metrics || w.URL != "https://ops.example/hook" || w.Secret != "from-env-secret" || w.MaxAttempts != 3 || w.Timeout != 3*time.Second {
		t.Errorf("merged: lang %s metrics %v webhook %+v", c.lang(), c.Metrics, w)
	}
	var out bytes.Buffer
	c.print(&out)
	if strings.Contains(out.String(), "from-env-secret") || !strings.Contains(out.String(), "secret: <redacted>") ||
		!strings.Contains(out.String(), "webhook.secret: env $DOCKPACK_WEBHOOK_SECRET") {
		t.Errorf("print-config:\n%s", out.String())
	}
	c, err = mustServeConfig(t, []string{"--metrics=false", "--webhook-url", "https://x/y"}, map[string]string{"DOCKPACK_LANG": "zh_CN.UTF-8"}, "")
	if err != nil || c.Metrics || c.lang() != "zh-CN" {
		t.Errorf("flags and env: %+v %v", c, err)
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--webhook-url", "ftp://x"}, nil},
		{[]string{"--webhook-url", "http://x", "--webhook-max-attempts", "-1"}, nil},
		{nil, map[string]string{"DOCKPACK_LANG": "fr"}},
	} {
		if _, err := mustServeConfig(t, bad.args, bad.env, ""); err == nil {
			t.Errorf("%v %v accepted", bad.args, bad.env)
		}
	}
}
