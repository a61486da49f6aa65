//go:build integration

package integration_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
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
