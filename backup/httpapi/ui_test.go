package httpapi_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/backup/verifier"
	"github.com/dockpack/dockpack/internal/i18n"
)

// The real Manager (and its Verifier) serve every route of the admin page.
var (
	_ httpapi.DoctorRunner   = (*jobs.Manager)(nil)
	_ httpapi.PackVerifier   = (*verifier.Verifier)(nil)
	_ httpapi.RestorePlanner = (*verifier.Verifier)(nil)
)

const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// The page's files are served without a token, with the CSP; the data
// routes it calls are not.
func TestUIFilesArePublicWithCSP(t *testing.T) {
	srv := MustServer(t, newFake(), httpapi.Options{})
	for _, c := range []struct{ path, ctype string }{
		{"/ui/", "text/html"}, {"/ui/app.js", "text/javascript"}, {"/ui/app.css", "text/css"},
		{"/ui/icon.svg", "image/svg+xml"}, {"/ui/i18n/en.json", "application/json"}, {"/ui/i18n/zh-CN.json", "application/json"},
	} {
		code, hdr, body := MustDo(t, srv, "GET", c.path, "", "Authorization", "")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), c.ctype) || body == "" {
			t.Errorf("GET %s without a token: %d %q", c.path, code, hdr.Get("Content-Type"))
		}
		if hdr.Get("Content-Security-Policy") != uiCSP || hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", c.path, hdr)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(srv.URL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "ui/" {
		t.Errorf("GET /ui: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/ui/nope.js", "/ui/i18n/fr.json", "/ui/i18n/zh-cn.json", "/ui/i18n/en"} {
		if code, _, _ := MustDo(t, srv, "GET", p, "", "Authorization", ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	for _, p := range []string{"/v1/doctor", "/v1/settings/fields", "/v1/verifications", "/v1/packs/x/restore-plan"} {
		if code, _, _ := MustDo(t, srv, "GET", p, "", "Authorization", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", p, code)
		}
	}
	if code, _, _ := MustDo(t, srv, "POST", "/v1/packs/x/verify", "", "Authorization", ""); code != http.StatusUnauthorized {
		t.Errorf("POST verify without a token: %d, want 401", code)
	}
}

// The page's messages are the catalogue's ui.* entries, in each language.
func TestUIMessagesFromTheCatalogue(t *testing.T) {
	srv := MustServer(t, newFake(), httpapi.Options{})
	for _, lang := range i18n.Supported() {
		_, _, body := MustDo(t, srv, "GET", "/ui/i18n/"+lang+".json", "", "Authorization", "")
		m := mustJSON(t, body)
		msgs, _ := m["messages"].(map[string]any)
		if m["lang"] != lang || msgs["ui.title"] != i18n.T(lang, "ui.title") || msgs["ui.now.busy"] != i18n.T(lang, "ui.now.busy") {
			t.Errorf("%s: lang %v, %d messages", lang, m["lang"], len(msgs))
		}
		for k := range msgs {
			if !strings.HasPrefix(k, "ui.") {
				t.Errorf("%s: message %s is not the page's", lang, k)
			}
		}
	}
}

// uiAssets reads every embedded file of the page.
func uiAssets(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir("ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(p)] = string(b)
		return err
	})
	if err != nil || len(out) < 5 {
		t.Fatalf("read ui/: %v (%d files)", err, len(out))
	}
	return out
}

// No inline script or style, no handler attributes, nothing from another
// origin: what the CSP enforces in the browser, checked in the files.
func TestUIAssetsAreSelfContained(t *testing.T) {
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`)
	handlerAttr := regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	remote := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for name, text := range uiAssets(t) {
		if strings.HasSuffix(name, ".html") {
			if inlineScript.MatchString(text) || handlerAttr.MatchString(text) || strings.Contains(text, " style=") || strings.Contains(text, "<style") {
				t.Errorf("%s has inline script or style", name)
			}
		}
		if strings.HasSuffix(name, ".js") && (strings.Contains(text, "innerHTML") || strings.Contains(text, "eval(") || strings.Contains(text, "new EventSource")) {
			t.Errorf("%s uses innerHTML, eval or EventSource", name)
		}
		for _, u := range remote.FindAllString(text, -1) {
			if u != "http://www.w3.org" && u != "//www.w3.org" { // the SVG namespace: a name, never fetched
				t.Errorf("%s names another origin: %s", name, u)
			}
		}
	}
}

// Every message the page asks for exists in every language: the keys it
// names literally, and those it builds from machine values.
func TestUIMessagesExist(t *testing.T) {
	literal := regexp.MustCompile(`(?:t\(|data-i18n(?:-label)?=)["'](ui\.[a-z0-9_.]+)["']`)
	keys := map[string]bool{}
	for _, text := range uiAssets(t) {
		for _, m := range literal.FindAllStringSubmatch(text, -1) {
			keys[m[1]] = true
		}
	}
	families := map[string][]string{
		"ui.status.":    {"queued", "running", "canceling", "canceled", "completed", "failed"},
		"ui.vstatus.":   {"running", "canceling", "canceled", "completed", "failed"},
		"ui.kind.":      {string(jobs.KindFull), string(jobs.KindIncremental)},
		"ui.check.":     {string(check.OK), string(check.Warn), string(check.Fail), string(check.Skip), string(check.Blocked)},
		"ui.pack.":      {string(pack.StatusComplete), string(pack.StatusPartial), string(pack.StatusInvalid)},
		"ui.component.": {string(pack.ComponentDB), string(pack.ComponentVolumes), string(pack.ComponentImages)},
		"ui.drill.":     {"passed", "failed", "blocked"},
		"ui.nav.":       {"now", "history", "packs", "health", "settings", "drills"},
		"ui.action.": {restore.ActionCreate, restore.ActionRefill, restore.ActionReplace, restore.ActionOverwrite,
			restore.ActionLoad, restore.ActionPresent, restore.ActionSkip, restore.ActionRefuse},
		"ui.step.": {string(progress.StepPrecheck), string(progress.StepSQLite), string(progress.StepVolumes), string(progress.StepImages),
			string(progress.StepCompose), string(progress.StepManifest), string(progress.StepFinalize), string(progress.StepVerify)},
	}
	// A setting added to the table without a label shows its JSON name
	// until it gets one: reported, not failed.
	for _, name := range settings.Editable() {
		if !i18n.Has(i18n.English, "ui.setting."+name) {
			t.Logf("setting %s has no label on the page (ui.setting.%s in internal/i18n/ui_en.go, ui_zh.go); it shows its name", name, name)
			continue
		}
		keys["ui.setting."+name] = true
		if i18n.Has(i18n.English, "ui.settinghint."+name) { // optional: a hint of its own
			keys["ui.settinghint."+name] = true
		}
	}
	for prefix, values := range families {
		for _, v := range values {
			keys[prefix+v] = true
		}
	}
	if len(keys) < 150 {
		t.Fatalf("only %d keys found in the page", len(keys))
	}
	for k := range keys {
		for _, lang := range i18n.Supported() {
			if !i18n.Has(lang, k) {
				t.Errorf("%s: the page uses %s, the catalogue lacks it", lang, k)
			}
		}
	}
	for _, k := range i18n.Keys(i18n.English) {
		if strings.HasPrefix(k, "ui.") && !keys[k] {
			t.Errorf("catalogue entry %s is not used by the page", k)
		}
	}
}

// Mounted by an embedder under its own prefix and behind its own
// authentication, the page is still served (its API calls are relative),
// and the data routes still pass the embedder's middleware.
func TestUIUnderAPrefixBehindEmbedderAuth(t *testing.T) {
	refuse := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Session") != "ok" {
				http.Error(w, "no session", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h, err := httpapi.New(newFake(), httpapi.Options{Auth: refuse})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/dockpack/", http.StripPrefix("/admin/dockpack", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]int{
		"/admin/dockpack/ui/": 200, "/admin/dockpack/ui/app.js": 200, "/admin/dockpack/ui/i18n/zh-CN.json": 200,
		"/admin/dockpack/v1/settings": http.StatusForbidden,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
