package httpapi_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/verifier"
	"github.com/dockpack/dockpack/internal/i18n"
)

func TestUIVerifyRoutes(t *testing.T) {
	cfg := jobs.Config{}
	cfg.Settings = backuptest.Settings(t)
	p := backuptest.MustPack(t, cfg.Settings.TargetLocalDir, time.Now().Add(-time.Hour))
	name := filepath.Base(p.Dir)
	srv := MustServer(t, backuptest.MustManager(t, cfg), httpapi.Options{})

	code, hdr, body := MustDo(t, srv, "POST", "/v1/packs/"+name+"/verify", `{"lang": "zh_CN.UTF-8"}`)
	var v verifier.Verification
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusAccepted || v.Pack != name || v.Lang != i18n.Chinese ||
		hdr.Get("Location") != "../../verifications/"+v.ID {
		t.Fatalf("POST verify: %d %v %s", code, hdr, body)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/verifications/"+v.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", err, resp)
	}
	events, _ := MustReadSSE(t, resp)
	resp.Body.Close()
	last := events[len(events)-1]
	var end verifier.Verification
	if err := json.Unmarshal([]byte(last.data), &end); err != nil || last.name != "final" || end.Status != jobs.StatusCompleted ||
		end.Progress != 100 || end.OK == nil || !*end.OK || end.Log != nil {
		t.Fatalf("last event %s %s", last.name, last.data)
	}
	for _, ev := range events[:len(events)-1] {
		if ev.name != "progress" {
			t.Errorf("event %s before the final one", ev.name)
		}
	}
	if code, _, body := MustDo(t, srv, "GET", "/v1/verifications/"+v.ID, ""); code != 200 || !strings.Contains(body, `"log":[{`) {
		t.Errorf("GET verification: %d %s", code, body)
	}
	if code, _, body := MustDo(t, srv, "GET", "/v1/verifications", ""); code != 200 || !strings.Contains(body, v.ID) {
		t.Errorf("GET verifications: %d %s", code, body)
	}
	if code, _, body := MustDo(t, srv, "POST", "/v1/verifications/"+v.ID+"/cancel", ""); code != 200 || !strings.Contains(body, `"status":"completed"`) {
		t.Errorf("cancel of an ended verification: %d %s", code, body)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		err                string
	}{
		{"POST", "/v1/packs/migration_pack_20000101_000000_000/verify", "", 404, httpapi.CodePackNotFound},
		{"POST", "/v1/packs/etc/verify", "", 400, httpapi.CodeInvalidSpec},
		{"POST", "/v1/packs/" + name + "/verify", `{"lang": "fr"}`, 400, httpapi.CodeInvalidLang},
		{"POST", "/v1/packs/" + name + "/verify", `{"nope": 1}`, 400, httpapi.CodeUnknownField},
		{"GET", "/v1/verifications/verify_0000", "", 404, httpapi.CodeVerificationNotFound},
		{"GET", "/v1/verifications/a.b", "", 400, httpapi.CodeInvalidValue},
		{"POST", "/v1/verifications/verify_0000/cancel", "", 404, httpapi.CodeVerificationNotFound},
		{"GET", "/v1/verifications/verify_0000/events", "", 404, httpapi.CodeVerificationNotFound},
	} {
		code, _, body := MustDo(t, srv, c.method, c.path, c.body)
		if code != c.code || mustJSON(t, body)["error"] != c.err {
			t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.path, c.body, code, body, c.code, c.err)
		}
	}
}

func TestUIRestorePlanRoute(t *testing.T) {
	cfg := jobs.Config{Engine: backuptest.NewRunningEngine()}
	cfg.Settings = backuptest.Settings(t)
	p := backuptest.MustPack(t, cfg.Settings.TargetLocalDir, time.Now().Add(-time.Hour))
	name := filepath.Base(p.Dir)
	srv := MustServer(t, backuptest.MustManager(t, cfg), httpapi.Options{})

	code, _, body := MustDo(t, srv, "GET", "/v1/packs/"+name+"/restore-plan?project=demo2&components=volumes,images&stop_running=true&lang=zh-CN", "")
	var res restore.Result
	if err := json.Unmarshal([]byte(body), &res); err != nil || code != 200 || !res.Planned || res.Plan.Project != "demo2" ||
		len(res.Plan.Components) != 2 || len(res.Plan.Volumes) != 2 {
		t.Fatalf("plan: %d %s", code, body)
	}
	for _, c := range []struct {
		query string
		code  int
		err   string
	}{
		{"?components=nope", 400, httpapi.CodeInvalidSpec},
		{"?force=maybe", 400, httpapi.CodeInvalidQuery},
		{"?lang=fr", 400, httpapi.CodeInvalidLang},
		{"?project=Not%20A%20Project", 400, httpapi.CodeInvalidSpec},
	} {
		code, _, body := MustDo(t, srv, "GET", "/v1/packs/"+name+"/restore-plan"+c.query, "")
		if code != c.code || mustJSON(t, body)["error"] != c.err {
			t.Errorf("%s: %d %s, want %d %s", c.query, code, body, c.code, c.err)
		}
	}
	if code, _, body := MustDo(t, srv, "GET", "/v1/packs/migration_pack_20000101_000000_000/restore-plan", ""); code != 404 {
		t.Errorf("unknown pack: %d %s", code, body)
	}
}

func TestUIDoctorRoute(t *testing.T) {
	srv := MustServer(t, backuptest.MustManager(t, jobs.Config{}), httpapi.Options{})
	for _, lang := range i18n.Supported() {
		code, _, body := MustDo(t, srv, "GET", "/v1/doctor?lang="+lang, "")
		var rep doctor.Report
		if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || rep.Lang != lang || len(rep.Checks) != len(doctor.Checks()) {
			t.Fatalf("doctor %s: %d %s", lang, code, body)
		}
		target, _ := rep.Check(doctor.CheckTarget)
		lock, _ := rep.Check(doctor.CheckLock)
		if target.Status == "skip" || lock.Status != "ok" {
			t.Errorf("%s: target %+v, lock %+v", lang, target, lock)
		}
	}
	if code, _, body := MustDo(t, srv, "GET", "/v1/doctor?lang=fr", ""); code != 400 || mustJSON(t, body)["error"] != httpapi.CodeInvalidLang {
		t.Errorf("lang fr: %d %s", code, body)
	}
}

func TestUISettingsFieldsRoute(t *testing.T) {
	srv := MustServer(t, backuptest.MustManager(t, jobs.Config{Pinned: []string{"target_local_dir"}}), httpapi.Options{})
	code, _, body := MustDo(t, srv, "GET", "/v1/settings/fields", "")
	var out struct {
		Fields []struct {
			Name, Type, Flag, Env, YAML string
			Pinned                      bool
		} `json:"fields"`
		ReadOnly []string `json:"read_only"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || code != 200 || len(out.Fields) < 10 || len(out.ReadOnly) == 0 {
		t.Fatalf("fields: %d %s", code, body)
	}
	for _, f := range out.Fields {
		if (f.Name == "target_local_dir") != f.Pinned || f.Type == "" || f.YAML != "settings."+f.Name {
			t.Errorf("field %+v", f)
		}
		if f.Name == "target_local_dir" && (f.Flag != "target" || f.Env != "DOCKPACK_TARGET") {
			t.Errorf("target field %+v", f)
		}
	}
}
