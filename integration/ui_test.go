//go:build integration

package integration_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
)

// uiViews are the page's views, in the navigation's order.
var uiViews = []string{"now", "history", "packs", "health", "settings", "drills"}

// uiProgress is what the page shows of a run: the percentage on its bar
// and the run's status.
type uiProgress struct {
	Percent string `json:"percent"`
	Status  string `json:"status"`
}

// uiFollow samples what the page shows of a run (card: the article's
// selector, percent: the percentage element) every 40 ms until it ended,
// and returns the percentages seen in order.
func (p *uiPage) uiFollow(card, percent string, timeout time.Duration, onSample func(pct int)) ([]int, string) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []int
	for {
		var s uiProgress
		p.eval(fmt.Sprintf(`(() => { const a = document.querySelector(%q), pc = document.querySelector(%q);
			return {percent: pc ? pc.dataset.percent || '' : '', status: a ? a.dataset.status || '' : ''}; })()`, card, percent), &s)
		if s.Percent != "" {
			n, _ := strconv.Atoi(s.Percent)
			if len(seen) == 0 || seen[len(seen)-1] != n {
				seen = append(seen, n)
				if onSample != nil {
					onSample(n)
				}
			}
		}
		switch s.Status {
		case "completed", "failed", "canceled":
			return seen, s.Status
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not end within %v; percentages seen %v, status %q", card, timeout, seen, s.Status)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

func uiAssertRising(t *testing.T, what string, seen []int) {
	t.Helper()
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Errorf("%s: the percentage shown went back from %d to %d (%v)", what, seen[i-1], seen[i], seen)
		}
	}
	if len(seen) == 0 || seen[len(seen)-1] != 100 {
		t.Errorf("%s: the percentage shown did not reach 100: %v", what, seen)
	}
}

// The page from sign-in to every view on a real daemon: a backup started
// from the page with its progress rising to 100 %, the job in the history
// with its size and log, a pack verified and its restore plan, the doctor,
// a settings edit that round-trips (a pinned setting read-only), a drill;
// then the accessibility basics of every view at 1280 px, at 200 % zoom and
// at 360 px, and the network log (only the page's own origin).
func TestUIWalkthrough(t *testing.T) {
	b := uiNewBrowser(t)
	s := dmNewStack(t, 10<<20)
	target := MustTmpfs(t, 512<<20)
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s,
		env: []string{"DOCKPACK_TEST_THROTTLE_BPS=" + strconv.Itoa(5<<19)}}) // the 10 MiB volume takes ~4 s
	p := b.tab(d)
	p.run(chromedp.Navigate(d.url + "/ui/"))
	p.waitJS("asking for the token", `document.getElementById('token')`, 20*time.Second)
	p.shot("ui-signin")
	p.open(dmToken)
	p.waitReady("now")

	t.Run("backup progress rises to 100", func(t *testing.T) {
		p.t = t
		p.run(chromedp.Click(chromedp.CSS("#start-incremental")))
		shot := false
		seen, status := p.uiFollow("#job-box article", "#now-percent", 2*time.Minute, func(pct int) {
			if !shot && pct >= 25 && pct <= 85 {
				shot = true
				p.shot("ui-now-running")
			}
		})
		t.Logf("percentages shown while the backup ran: %v", seen)
		if status != "completed" {
			t.Fatalf("the backup ended %s: %s", status, p.text("#job-box"))
		}
		uiAssertRising(t, "backup", seen)
		if len(seen) < 3 {
			t.Errorf("the page showed only %v: no live progress between start and end", seen)
		}
		p.shot("ui-now")
	})
	var list struct{ Jobs []jobs.Job }
	_, body := d.do("GET", "/v1/jobs", "")
	if err := json.Unmarshal(body, &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("jobs: %v %s", err, body)
	}
	first := list.Jobs[0]
	dmAssertPack(t, first)
	for range 2 { // two more packs for the chart and the packs view
		d.waitEnded(d.start().ID, 2*time.Minute)
	}

	t.Run("history shows the job with its size and log", func(t *testing.T) {
		p.t = t
		p.view("history")
		row := fmt.Sprintf("#job-row-%d", first.ID)
		var bytes string
		p.eval(fmt.Sprintf(`document.querySelector(%q).dataset.bytes`, row), &bytes)
		if bytes != dmItoa(first.BytesDone) || first.BytesDone <= 0 || !strings.Contains(p.text(row), "MiB") {
			t.Errorf("history row of job %d: bytes %q (job: %d), text %q", first.ID, bytes, first.BytesDone, p.text(row))
		}
		p.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-job="%d"]`, first.ID))))
		p.waitJS("showing the job's log", fmt.Sprintf(`document.querySelectorAll('#log-%d li').length > 3`, first.ID), 10*time.Second)
		if !strings.Contains(p.text(fmt.Sprintf("#log-%d", first.ID)), "volume") {
			t.Errorf("the log of job %d: %s", first.ID, p.text(fmt.Sprintf("#log-%d", first.ID)))
		}
		p.waitJS("drawing the chart", `document.querySelectorAll('#history-chart rect.bar').length === 3`, 5*time.Second)
		p.shot("ui-history")
	})

	t.Run("verify a pack with progress, then its restore plan", func(t *testing.T) {
		p.t = t
		p.view("packs")
		name := filepath.Base(*first.OutputDir)
		p.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.verify[data-pack=%q]`, name))))
		p.waitJS("showing the verification", `document.querySelector('#verify-box article')`, 10*time.Second)
		seen, status := p.uiFollow("#verify-box article", "#verify-percent", time.Minute, nil)
		t.Logf("percentages shown while the pack was verified: %v", seen)
		if status != "completed" {
			t.Fatalf("the verification ended %s: %s", status, p.text("#verify-box"))
		}
		uiAssertRising(t, "verification", seen)
		p.waitJS("listing the checks", `document.querySelectorAll('#verify-checks li[data-status="ok"]').length >= 3 && document.querySelector('#verify-verdict[data-ok="true"]')`, 10*time.Second)
		p.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.plan[data-pack=%q]`, name))))
		p.waitJS("showing the plan", `document.querySelector('#plan tr[data-volume]')`, 30*time.Second)
		var plan struct {
			Action, Command string
			Problems        string
		}
		p.eval(`({action: document.querySelector('#plan tr[data-volume]').dataset.action, command: document.getElementById('plan-command').innerText,
			problems: document.getElementById('plan').dataset.problems})`, &plan)
		// The live volume is in use by the running app: without --stop-running the plan refuses.
		if plan.Action != "refuse" || plan.Problems == "0" || !strings.Contains(plan.Command, "dockpack restore "+*first.OutputDir) {
			t.Errorf("plan: %+v", plan)
		}
		p.run(chromedp.Click(chromedp.CSS("#plan-stop")), chromedp.Click(chromedp.CSS("#plan-force")), chromedp.Click(chromedp.CSS("#plan-submit")))
		p.waitJS("planning with --stop-running --force", `document.getElementById('plan-command') && document.getElementById('plan-command').innerText.includes('--stop-running')`, 30*time.Second)
		p.shot("ui-packs")
	})

	t.Run("health shows the doctor's report", func(t *testing.T) {
		p.t = t
		p.view("health")
		var verdict, targetStatus string
		p.eval(`document.getElementById('doctor-verdict').dataset.verdict`, &verdict)
		p.eval(`document.querySelector('#doctor-checks li[data-name="target"]').dataset.status`, &targetStatus)
		if targetStatus != string(check.OK) || verdict == "" {
			t.Errorf("doctor: verdict %q, target %q: %s", verdict, targetStatus, p.text("#doctor"))
		}
		p.shot("ui-health")
	})

	t.Run("settings round-trip; a pinned setting is read-only", func(t *testing.T) {
		p.t = t
		p.view("settings")
		var pinned struct {
			ReadOnly bool   `json:"readOnly"`
			Hint     string `json:"hint"`
		}
		p.eval(`({readOnly: document.getElementById('set-target_local_dir').readOnly, hint: document.getElementById('hint-target_local_dir').innerText})`, &pinned)
		if !pinned.ReadOnly || !strings.Contains(pinned.Hint, "--target") || !strings.Contains(pinned.Hint, "DOCKPACK_TARGET") {
			t.Errorf("the pinned target: %+v", pinned)
		}
		p.run(chromedp.SetValue(chromedp.CSS("#set-backup_retention_max"), ""),
			chromedp.SendKeys(chromedp.CSS("#set-backup_retention_max"), "7"),
			chromedp.SendKeys(chromedp.CSS("#set-incremental_schedule"), "0 3 29 2 *"),
			chromedp.SendKeys(chromedp.CSS("#change-reason"), "keep a week of packs (UI test)"),
			chromedp.Click(chromedp.CSS("#settings-save")))
		p.waitJS("saving", `document.getElementById('settings-saved') && !document.getElementById('settings-saved').hidden`, 10*time.Second)
		p.run(chromedp.Reload())
		p.waitReady("settings")
		var after struct{ Keep, Sched, Next string }
		p.eval(`({keep: document.getElementById('set-backup_retention_max').value, sched: document.getElementById('set-incremental_schedule').value,
			next: document.getElementById('next-incremental').innerText})`, &after)
		st := d.settings()
		if after.Keep != "7" || after.Sched != "0 3 29 2 *" || st["backup_retention_max"] != float64(7) || st["incremental_schedule"] != "0 3 29 2 *" ||
			!strings.Contains(after.Next, "0 3 29 2 *") {
			t.Errorf("after a reload: %+v; the daemon: retention %v, schedule %v", after, st["backup_retention_max"], st["incremental_schedule"])
		}
		p.shot("ui-settings")
	})

	t.Run("a drill from the page", func(t *testing.T) {
		p.t = t
		p.view("drills")
		p.run(chromedp.SetValue(chromedp.CSS("#drill-job"), dmItoa(first.ID)), chromedp.Click(chromedp.CSS("#drill-submit")))
		p.waitJS("running the drill", `document.getElementById('drill-outcome')`, time.Minute)
		var status string
		p.eval(`document.getElementById('drill-outcome').dataset.status`, &status)
		if status != "passed" {
			t.Errorf("drill: %s: %s", status, p.text("#drill-result"))
		}
		p.waitJS("listing the drill", `document.querySelector('#drills-table tr[data-drill]')`, 10*time.Second)
		p.shot("ui-drills")
	})

	t.Run("accessibility at 1280 px, 200 % zoom and 360 px", func(t *testing.T) {
		p.t = t
		for _, w := range []struct {
			px    int64
			scale float64
			tag   string
		}{{1280, 1, "1280"}, {640, 2, "zoom200"}, {360, 1, "360"}} {
			p.width(w.px, w.scale)
			for _, v := range uiViews {
				p.view(v)
				where := fmt.Sprintf("%s at %s", v, w.tag)
				named := p.a11yNames(where)
				tabbed := p.a11yTabOrder(where)
				p.a11yNoOverflow(where)
				if w.tag != "zoom200" {
					p.shot(fmt.Sprintf("ui-%s-%s", v, w.tag))
				}
				t.Logf("%s: %d controls named, %d actions reached by Tab, no overflow", where, named, tabbed)
			}
		}
		p.width(1280, 1)
	})
	p.t = t
	p.assertClean()
}

// Cancel from the page; a start while a backup holds the lock says who
// holds it; a wrong token shows a clear error and no data.
func TestUICancelBusyAndWrongToken(t *testing.T) {
	b := uiNewBrowser(t)
	s := dmNewStack(t, 1<<20)
	target := MustTmpfs(t, 64<<20)
	hold := t.TempDir()
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, stack: s, noSched: true,
		env: []string{"DOCKPACK_TEST_HOLD_STEP=volumes", "DOCKPACK_TEST_HOLD_DIR=" + hold}})
	j := d.start()
	d.waitHeld(hold, progress.StepVolumes, j.ID)
	p := b.tab(d)
	p.open(dmToken)
	p.waitReady("now")
	p.waitJS("following the held job", fmt.Sprintf(`document.querySelector('#job-%d')`, j.ID), 10*time.Second)

	p.run(chromedp.Click(chromedp.CSS("#start-incremental")))
	p.waitJS("saying who holds the lock", `!document.getElementById('busy').hidden`, 10*time.Second)
	busy := p.text("#busy")
	li := d.lock()
	if !strings.Contains(busy, fmt.Sprintf("%d", j.ID)) || !strings.Contains(busy, li.Host) || !strings.Contains(busy, strconv.Itoa(d.pid())) {
		t.Errorf("busy message %q does not name job %d, host %s, pid %d", busy, j.ID, li.Host, d.pid())
	}
	t.Logf("busy start: %s", busy)
	p.shot("ui-busy")

	p.run(chromedp.Click(chromedp.CSS("#cancel-job")))
	p.waitJS("showing the job canceled", fmt.Sprintf(`document.querySelector('#job-%d').dataset.status === 'canceled'`, j.ID), time.Minute)
	if got := d.waitEnded(j.ID, 30*time.Second); got.Status != jobs.StatusCanceled {
		t.Errorf("job %d ended %s", j.ID, got.Status)
	}
	dmWait(t, 30*time.Second, "the lock released", func() bool { return !d.lock().Held })
	dmAssertClean(t, target, s) // no partial pack, the app runs again
	p.shot("ui-canceled")
	p.assertClean()

	t.Run("wrong token", func(t *testing.T) {
		w := b.tab(d)
		w.open("not-the-token-0123456789abcdef")
		w.waitJS("refusing the token", `document.getElementById('signin-error') && !document.getElementById('signin-error').hidden`, 10*time.Second)
		msg := w.text("#signin-error")
		var state struct {
			View     string `json:"view"`
			NavShown bool   `json:"navShown"`
			Data     int    `json:"data"`
		}
		w.eval(`({view: document.querySelector('main').dataset.view, navShown: !document.getElementById('nav').hidden,
			data: document.querySelectorAll('main table, main article, main [data-job], #job-box, #packs-table').length})`, &state)
		if !strings.Contains(msg, "401") || !strings.Contains(msg, "token") || state.View != "signin" || state.NavShown || state.Data != 0 {
			t.Errorf("wrong token: message %q, page %+v", msg, state)
		}
		var main string
		w.eval(`document.querySelector('main').innerText`, &main)
		if strings.Contains(main, s.project) || strings.Contains(main, target) {
			t.Errorf("the page shows data without a valid token:\n%s", main)
		}
		t.Logf("wrong token: %s", msg)
		w.shot("ui-wrong-token")
		w.assertClean()
	})
}

// The doctor with the target unmounted: the failing check and its fix, in
// English and, after switching the page's language, in Chinese.
func TestUIDoctorTargetUnmounted(t *testing.T) {
	b := uiNewBrowser(t)
	target := MustTmpfs(t, 16<<20)
	d := dmStart(t, dmOpts{stateDir: t.TempDir(), target: target, noSched: true})
	MustUnmount(t, target)
	p := b.tab(d)
	p.open(dmToken)
	p.waitReady("now")
	for _, lang := range []string{"en", "zh-CN"} {
		if lang != "en" {
			p.run(chromedp.SetValue(chromedp.CSS("#lang"), lang),
				chromedp.Evaluate[chromedp.Void](`document.getElementById('lang').dispatchEvent(new Event('change'))`))
			p.waitJS("switching to "+lang, fmt.Sprintf(`document.documentElement.lang === %q`, lang), 10*time.Second)
		}
		p.view("health")
		_, body := d.do("GET", "/v1/doctor?lang="+lang, "")
		var rep doctor.Report
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
		want, _ := rep.Check(doctor.CheckTarget)
		if want.Status != check.Fail || want.Fix == "" {
			t.Fatalf("%s: the daemon's target check is %s with fix %q: the test's premise is wrong", lang, want.Status, want.Fix)
		}
		li := `#doctor-checks li[data-name="target"]`
		var got struct{ Status, Code, Summary, Fix string }
		p.eval(fmt.Sprintf(`(() => { const li = document.querySelector(%q);
			return {status: li.dataset.status, code: li.dataset.code, summary: li.querySelector('.summary').innerText, fix: li.querySelector('.fix').innerText}; })()`, li), &got)
		if got.Status != string(check.Fail) || got.Code != want.Code || !strings.Contains(got.Fix, want.Fix) || !strings.Contains(got.Summary, want.Summary) {
			t.Errorf("%s: the page shows %+v; the daemon says %s %s: %q, fix %q", lang, got, want.Status, want.Code, want.Summary, want.Fix)
		}
		t.Logf("%s: target check %s (%s): %s; fix: %s", lang, got.Status, got.Code, got.Summary, got.Fix)
		p.shot("ui-health-unmounted-" + lang)
	}
	p.assertClean()
}
