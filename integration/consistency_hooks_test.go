//go:build integration

package integration_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
)

// csHooksCompose: app depends on db; both note their hooks in the shared
// volume's log and say something on stdout and stderr. EXTRA adds labels
// to app.
const csHooksCompose = `version: "2.4"
services:
  db:
    image: IMAGE
    command: ["sleep"]
    network_mode: none
    volumes:
      - shared:/shared
    labels:
      dockpack.pre-backup: "/testapp note /shared/hooks.log pre-db"
      dockpack.post-backup: "/testapp say post db"
TESTLABELS
  app:
    image: IMAGE
    command: ["sleep"]
    network_mode: none
    depends_on: [db]
    volumes:
      - shared:/shared
    labels:
      dockpack.post-backup: "/testapp note /shared/hooks.log post-app"
EXTRA
TESTLABELS
volumes:
  shared:
    labels:
TESTLABELS
`

func csHooks(extra ...string) string {
	var b strings.Builder
	for _, l := range extra {
		b.WriteString("      " + l + "\n")
	}
	return strings.Replace(csHooksCompose, "EXTRA\n", b.String(), 1)
}

// csHookLog is the shared volume's hook log: the words of each line, in order.
func csHookLog(t *testing.T, s *csStack) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(rsReadFile(t, s.cli, s.id("db"), "/shared/hooks.log")), "\n") {
		if _, w, ok := strings.Cut(l, " "); ok {
			out = append(out, w)
		}
	}
	return out
}

// TestConsistencyHooks: pre hooks run dependents first and post hooks in
// reverse, with their output recorded; a failing pre hook with on-error
// fail aborts naming the service while post hooks and the services'
// restarts still run; continue records it and goes on; a hanging hook is
// killed at its timeout.
func TestConsistencyHooks(t *testing.T) {
	s := csNewStack(t, csHooks(`dockpack.pre-backup: "/testapp say pre app"`))

	t.Run("order and output", func(t *testing.T) {
		spec := s.spec(32 << 20)
		spec.StopApps = []string{"db"} // app depends on db: both stop, app first
		res, err := backup.Run(MustCtx(t), spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		app, db := csService(t, res.Manifest, "app"), csService(t, res.Manifest, "db")
		if len(app.Hooks) != 2 || len(db.Hooks) != 2 {
			t.Fatalf("hooks app %+v db %+v", app.Hooks, db.Hooks)
		}
		// pre: app (the dependent) before db; post: db before app.
		if !(app.Hooks[0].StartedAt < db.Hooks[0].StartedAt && db.Hooks[1].StartedAt < app.Hooks[1].StartedAt) {
			t.Errorf("order: app pre %s, db pre %s, db post %s, app post %s", app.Hooks[0].StartedAt, db.Hooks[0].StartedAt, db.Hooks[1].StartedAt, app.Hooks[1].StartedAt)
		}
		if h := app.Hooks[0]; h.Phase != pack.PhasePreBackup || h.Status != pack.HookOK || h.ExitCode != 0 || h.StdoutTail != "pre app\n" || h.StderrTail != "stderr: pre app\n" {
			t.Errorf("app pre hook %+v", h)
		}
		if h := db.Hooks[1]; h.Phase != pack.PhasePostBackup || h.StdoutTail != "post db\n" || h.Command[0] != "/testapp" {
			t.Errorf("db post hook %+v", h)
		}
		if !app.Stopped || !db.Stopped || strings.Join(res.Manifest.Consistency.StopOrder, ",") != s.project+"_app_1,"+s.project+"_db_1" {
			t.Errorf("stop order %v", res.Manifest.Consistency.StopOrder)
		}
		// The post hooks ran after the services were started again.
		if got := strings.Join(csHookLog(t, s), ","); got != "pre-db,post-app" {
			t.Errorf("hook log %s", got)
		}
	})

	t.Run("a failure after the stop: restarts, then post hooks", func(t *testing.T) {
		// The job is cancelled once the shared volume's export begins (app and
		// db stopped): both start again (db first), then the post hooks run.
		spec := s.spec(32 << 20)
		spec.StopApps = []string{"db"}
		cause := errors.New("cancelled by the test during the export")
		ctx, cancel := context.WithCancelCause(MustCtx(t))
		defer cancel(nil)
		before := len(csHookLog(t, s))
		since := time.Now()
		_, err := backup.Run(ctx, spec, func(r progress.Report) {
			if r.Step == progress.StepVolumes && r.Item == s.project+"_shared" {
				cancel(cause)
			}
		})
		if err == nil || !(errors.Is(err, cause) || errors.Is(err, context.Canceled)) {
			t.Fatalf("err = %v", err)
		}
		if packs, partials := TargetDirs(t, spec.Target); len(packs)+len(partials) != 0 {
			t.Fatalf("left %v %v", packs, partials)
		}
		at := map[string]time.Time{}
		var seq []string
		for _, e := range csEvents(t, s.cli, since, s.id("app"), s.id("db")) {
			svc := strings.TrimSuffix(strings.TrimPrefix(e.name, s.project+"_"), "_1")
			seq = append(seq, e.action+" "+svc)
			at[e.action+" "+svc] = e.at
		}
		if strings.Join(seq, ", ") != "die app, die db, start db, start app" {
			t.Fatalf("events %v", seq)
		}
		for _, svc := range []string{"app", "db"} {
			if _, _, running := s.state(svc); !running {
				t.Errorf("%s does not run", svc)
			}
		}
		// db's pre hook noted itself before app stopped, app's post hook after
		// app had started again.
		lines := strings.Split(strings.TrimSpace(rsReadFile(t, s.cli, s.id("db"), "/shared/hooks.log")), "\n")[before:]
		if len(lines) != 2 || !strings.HasSuffix(lines[0], " pre-db") || !strings.HasSuffix(lines[1], " post-app") {
			t.Fatalf("hooks of the failed backup: %q", lines)
		}
		pre, _ := strconv.ParseInt(strings.Fields(lines[0])[0], 10, 64)
		ns, _ := strconv.ParseInt(strings.Fields(lines[1])[0], 10, 64)
		if noted := time.Unix(0, pre); !noted.Before(at["die app"]) {
			t.Errorf("the pre hook ran at %v, after app stopped at %v", noted, at["die app"])
		}
		if noted := time.Unix(0, ns); noted.Before(at["start app"]) {
			t.Errorf("the post hook ran at %v, before app started again at %v", noted, at["start app"])
		}
		t.Logf("cancelled mid-export: %v; app down %v, db down %v, post hook %v after app's start", err,
			at["start app"].Sub(at["die app"]).Round(time.Millisecond), at["start db"].Sub(at["die db"]).Round(time.Millisecond),
			time.Unix(0, ns).Sub(at["start app"]).Round(time.Millisecond))
	})

	t.Run("failing pre hook fails", func(t *testing.T) {
		s.write(csHooks(`dockpack.pre-backup: "/testapp fail 7 cannot flush the cache"`))
		s.compose("up", "-d")
		startedApp, _, _ := s.state("app")
		spec := s.spec(32 << 20)
		spec.StopApps = []string{"db"}
		before := len(csHookLog(t, s))
		_, err := backup.Run(MustCtx(t), spec, nil)
		if !errors.Is(err, backup.ErrHookFailed) || backup.ErrorCode(err) != "hook_failed" || !strings.Contains(err.Error(), "service app") ||
			!strings.Contains(err.Error(), "exited with 7") || !strings.Contains(err.Error(), "cannot flush the cache") {
			t.Fatalf("err = %v", err)
		}
		if packs, partials := TargetDirs(t, spec.Target); len(packs)+len(partials) != 0 {
			t.Fatalf("left %v %v", packs, partials)
		}
		// app's pre hook failed first (dependents first): db's never ran; the post hooks did.
		if got := strings.Join(csHookLog(t, s)[before:], ","); got != "post-app" {
			t.Errorf("hooks after the failure: %s", got)
		}
		for _, svc := range []string{"app", "db"} {
			if _, _, running := s.state(svc); !running {
				t.Errorf("%s does not run", svc)
			}
		}
		if st, _, _ := s.state("app"); st != startedApp {
			t.Errorf("app was restarted although nothing was stopped yet")
		}
	})

	t.Run("continue records it", func(t *testing.T) {
		s.write(csHooks(`dockpack.pre-backup: "/testapp fail 7 cannot flush the cache"`, `dockpack.hook-on-error: continue`))
		s.compose("up", "-d")
		res, err := backup.Run(MustCtx(t), s.spec(32<<20), nil)
		if err != nil {
			t.Fatal(err)
		}
		h := csService(t, res.Manifest, "app").Hooks[0]
		if h.Status != pack.HookIgnored || h.ExitCode != 7 || !strings.Contains(h.StderrTail, "cannot flush the cache") || h.OnError != "continue" {
			t.Fatalf("hook %+v", h)
		}
	})

	t.Run("hanging hook killed at its timeout", func(t *testing.T) {
		s.write(csHooks(`dockpack.pre-backup: "/testapp hang child"`, `dockpack.hook-timeout: 2s`, `dockpack.hook-on-error: continue`))
		s.compose("up", "-d")
		t0 := time.Now()
		res, err := backup.Run(MustCtx(t), s.spec(32<<20), nil)
		if err != nil {
			t.Fatal(err)
		}
		h := csService(t, res.Manifest, "app").Hooks[0]
		if h.Status != pack.HookTimedOut || h.ExitCode != -1 || h.DurationMS < 2000 || h.DurationMS > 10000 || !strings.Contains(h.KillNote, "killed") ||
			time.Since(t0) > time.Minute {
			t.Fatalf("hook %+v after %v", h, time.Since(t0))
		}
		top, err := s.cli.ContainerTop(MustCtx(t), s.id("app"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range top.Processes {
			if strings.Contains(strings.Join(p, " "), "hang") {
				t.Errorf("a hook process survived its timeout: %v", p)
			}
		}
		t.Logf("hanging hook: %s after %d ms", h.KillNote, h.DurationMS)
	})
}
