//go:build integration

package integration_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The admin page's tests drive headless Chromium (Debian's package
// "chromium", installed by .ci/run and `make browser`) with chromedp
// against `dockpack serve` on the real engine. Every request the page makes
// and every console message, exception and CSP report is recorded; the
// screenshots go to the artifact directory ($DOCKPACK_ARTIFACTS, default
// integration/testdata/artifacts, ignored by git).

// -ui-docs also writes the README's screenshots (uiDocShots) to docs/screenshots.
var uiDocs = flag.Bool("ui-docs", false, "also write the README's screenshots to ../docs/screenshots")

var uiDocShots = []string{"ui-now-running", "ui-history", "ui-packs", "ui-health-unmounted-en", "ui-health-unmounted-zh-CN"}

// uiChromium finds the browser; outside CI a missing one skips the test
// loudly, in CI ($CI or $DOCKPACK_REQUIRE_BROWSER set) it fails it.
func uiChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "the browser tests need Chromium: no `chromium` binary in $PATH (apt-get install -y chromium, or `make browser`)"
	if os.Getenv("CI") != "" || os.Getenv("DOCKPACK_REQUIRE_BROWSER") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// uiArtifacts is the directory of the screenshots.
func uiArtifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DOCKPACK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// uiBrowser is one headless Chromium for a test.
type uiBrowser struct {
	t     *testing.T
	alloc context.Context
	base  context.Context // the first tab; keeps the browser alive
}

func uiNewBrowser(t *testing.T) *uiBrowser {
	t.Helper()
	path := uiChromium(t)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("no-first-run", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	base, cancelBase := chromedp.NewContext(alloc)
	if err := chromedp.Do(base); err != nil { // starts the browser
		cancelBase()
		cancelAlloc()
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancelBase()
		cancelAlloc()
	})
	return &uiBrowser{t: t, alloc: alloc, base: base}
}

// uiPage is one tab on the daemon's page, with what it recorded.
type uiPage struct {
	t      *testing.T
	ctx    context.Context
	origin string
	shots  string

	mu       sync.Mutex
	requests []string // every URL the page requested
	problems []string // console errors, exceptions, CSP and other browser log errors
}

// tab opens a new tab (its own sessionStorage) recording requests and problems.
func (b *uiBrowser) tab(d *dmDaemon) *uiPage {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.base)
	b.t.Cleanup(cancel)
	p := &uiPage{t: b.t, ctx: ctx, origin: d.url, shots: uiArtifacts(b.t)}
	err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			p.requests = append(p.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			p.problems = append(p.problems, fmt.Sprintf("exception: %s (%s:%d)", uiExceptionText(e.ExceptionDetails), e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				p.problems = append(p.problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(parts, " ")))
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && !uiExpectedError(e.Entry) {
				p.problems = append(p.problems, fmt.Sprintf("browser %s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	p.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
		return err
	}))
	return p
}

// uiExpectedError: the failed requests a test provokes (401 of a wrong
// token, 409 of a busy start) are logged by the browser as errors.
func uiExpectedError(e *cdplog.Entry) bool {
	return e.Source == cdplog.EntrySourceNetwork && (strings.Contains(e.Text, "401") || strings.Contains(e.Text, "409"))
}

func uiExceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

func (p *uiPage) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression and decodes its JSON value into out.
func (p *uiPage) eval(js string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js))
	if err != nil {
		p.t.Fatalf("browser: evaluate %.80s: %v", js, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("browser: evaluate %.80s: decode %s: %v", js, raw, err)
		}
	}
}

// waitJS polls a boolean JavaScript expression until it holds.
func (p *uiPage) waitJS(what, js string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		p.eval("!!("+js+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			p.eval(`location.href + '\n' + document.body.innerText.slice(0, 2000) + '\n' + document.querySelector('main').outerHTML.slice(0, 1500)`, &body)
			p.shot("FAILED-" + strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name()))
			p.t.Fatalf("page: not %s within %v (%s); the page shows:\n%s", what, timeout, js, body)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// text is an element's innerText ("" when absent).
func (p *uiPage) text(sel string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector(%q) || {innerText: ''}).innerText`, sel), &s)
	return s
}

// open loads the page and signs in with token (the page asks for it once).
func (p *uiPage) open(token string) {
	p.t.Helper()
	p.run(chromedp.Navigate(p.origin + "/ui/"))
	p.waitJS("asking for the token", `document.getElementById('token')`, 20*time.Second)
	p.run(chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin-submit")))
}

// view shows a view through its navigation link and waits for its data.
func (p *uiPage) view(name string) {
	p.t.Helper()
	p.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#nav a[data-view=%q]`, name))))
	p.waitReady(name)
}

func (p *uiPage) waitReady(name string) {
	p.t.Helper()
	p.waitJS("showing "+name, fmt.Sprintf(`document.querySelector('main').dataset.view === %q && document.querySelector('main').dataset.ready === '1'`, name), 60*time.Second)
}

// width sets the viewport's CSS width (scale 2 is a 200 %% zoom of twice the width).
func (p *uiPage) width(w int64, scale float64) {
	p.t.Helper()
	p.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: w, Height: 900, DeviceScaleFactor: scale})
		return err
	}))
}

// shot saves a full-page screenshot as <name>.png in the artifact directory.
func (p *uiPage) shot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.shots, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
	if *uiDocs && slices.Contains(uiDocShots, name) {
		doc := filepath.Join("..", "docs", "screenshots", name+".png")
		if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(doc, buf, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("README screenshot %s", doc)
	}
	return path
}

// assertClean: every request went to the daemon's origin, and the browser
// reported no error (no exception, no CSP violation, no console error).
func (p *uiPage) assertClean() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	origin, _ := url.Parse(p.origin)
	for _, r := range p.requests {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != origin.Scheme || u.Host != origin.Host {
			p.t.Errorf("the page requested %s, outside its origin %s", r, p.origin)
		}
	}
	for _, pr := range p.problems {
		p.t.Errorf("the browser reported: %s", pr)
	}
	p.t.Logf("network log: %d requests, all to %s", len(p.requests), p.origin)
}

// a11yNames: every control the accessibility tree exposes has a name.
func (p *uiPage) a11yNames(where string) int {
	p.t.Helper()
	var nodes []*accessibility.Node
	p.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		res, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		nodes = res.Nodes
		return err
	}))
	controls := []string{"button", "link", "textbox", "checkbox", "combobox", "spinbutton", "radio", "searchbox",
		"listbox", "slider", "switch", "tab", "menuitem", "DisclosureTriangle", "progressbar", "img"}
	n := 0
	for _, nd := range nodes {
		if nd.Ignored || nd.Role == nil {
			continue
		}
		var role, name string
		_ = json.Unmarshal(nd.Role.Value, &role)
		if !slices.Contains(controls, role) {
			continue
		}
		n++
		if nd.Name != nil {
			_ = json.Unmarshal(nd.Name.Value, &name)
		}
		if strings.TrimSpace(name) == "" {
			var html string
			p.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				res, err := chromedp.Call(ctx, dom.GetOuterHTML, dom.GetOuterHTMLParams{BackendNodeID: nd.BackendDOMNodeID})
				html = res.OuterHTML
				return err
			}))
			p.t.Errorf("%s: a %s without an accessible name: %.200s", where, role, html)
		}
	}
	return n
}

// a11yTabOrder: pressing Tab from the top reaches every visible, enabled
// action of the page.
func (p *uiPage) a11yTabOrder(where string) int {
	p.t.Helper()
	var n int
	p.eval(`(() => {
		const sel = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
		let i = 0;
		for (const el of document.querySelectorAll(sel)) {
			delete el.dataset.a11y;
			if (el.closest('[hidden]') || !el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
			if (el.classList.contains('skip-link')) continue;
			el.dataset.a11y = String(i++);
		}
		document.querySelector('.skip-link').focus();
		return i;
	})()`, &n)
	seen := map[string]bool{}
	for i := 0; i < n+20 && len(seen) < n; i++ {
		p.run(chromedp.KeyEvent(kb.Tab))
		var idx string
		p.eval(`(document.activeElement && document.activeElement.dataset.a11y) || ''`, &idx)
		if idx != "" {
			seen[idx] = true
		}
	}
	if len(seen) < n {
		var missed []string
		p.eval(`[...document.querySelectorAll('[data-a11y]')].filter(e => !(`+uiJSSet(seen)+`).has(e.dataset.a11y)).map(e => e.outerHTML.slice(0, 120))`, &missed)
		p.t.Errorf("%s: Tab reached %d of %d actions; never: %v", where, len(seen), n, missed)
	}
	return n
}

func uiJSSet(seen map[string]bool) string {
	var keys []string
	for k := range seen {
		keys = append(keys, fmt.Sprintf("%q", k))
	}
	return "new Set([" + strings.Join(keys, ",") + "])"
}

// a11yNoOverflow: nothing is wider than the viewport (no sideways scrolling).
func (p *uiPage) a11yNoOverflow(where string) {
	p.t.Helper()
	var out struct {
		Scroll, Client int
		Wide           []string
	}
	p.eval(`(() => {
		const de = document.documentElement;
		const wide = [...document.querySelectorAll('body *')].filter(e => {
			const r = e.getBoundingClientRect();
			return r.width > 0 && r.right > de.clientWidth + 1;
		}).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' right=' + Math.round(e.getBoundingClientRect().right));
		return {scroll: de.scrollWidth, client: de.clientWidth, wide};
	})()`, &out)
	if out.Scroll > out.Client || len(out.Wide) > 0 {
		p.t.Errorf("%s: the page is %d px wide in a %d px viewport; too wide: %v", where, out.Scroll, out.Client, out.Wide)
	}
}
