package backup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/logsink"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// execEngine is the fake engine that also runs commands: each call is
// recorded with the calls of the fake (stop, start) in one log, and
// answered by script (by the command's first word).
type execEngine struct {
	*backuptest.Engine
	mu     sync.Mutex
	log    []string
	script map[string]func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error)
}

func newExecEngine() *execEngine {
	e := &execEngine{Engine: backuptest.NewEngine(), script: map[string]func(dockerapi.ExecOptions) (dockerapi.ExecResult, error){}}
	e.Stack.Containers[0].Labels = map[string]string{}
	e.Stack.Containers[0].Mounts = []dockerapi.Mount{{Type: "volume", Name: "demo_data", Destination: "/data", RW: true}}
	return e
}

func (e *execEngine) Exec(ctx context.Context, o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
	e.mu.Lock()
	e.log = append(e.log, "exec "+o.Container+" "+strings.Join(o.Cmd, " "))
	fn := e.script[o.Cmd[0]]
	e.mu.Unlock()
	if !e.IsRunning(o.Container) {
		return dockerapi.ExecResult{ExitCode: -1}, dockerapi.ErrContainerNotRunning
	}
	if fn == nil {
		return dockerapi.ExecResult{StdoutTail: "ok " + o.Cmd[0] + "\n", Duration: time.Millisecond}, nil
	}
	return fn(o)
}

// ContainerState answers restore.RunDumps (running or not).
func (e *execEngine) ContainerState(ctx context.Context, id string) (dockerapi.Container, error) {
	return dockerapi.Container{ID: id, Running: e.IsRunning(id)}, nil
}

func (e *execEngine) StopContainers(ctx context.Context, ids []string, timeout time.Duration) (func() error, error) {
	e.mu.Lock()
	e.log = append(e.log, "stop "+strings.Join(ids, ","))
	e.mu.Unlock()
	restart, err := e.Engine.StopContainers(ctx, ids, timeout)
	return func() error {
		e.mu.Lock()
		e.log = append(e.log, "start "+strings.Join(ids, ","))
		e.mu.Unlock()
		return restart()
	}, err
}

func (e *execEngine) calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

func (e *execEngine) labels(kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		e.Stack.Containers[0].Labels[kv[i]] = kv[i+1]
	}
}

func crService(t *testing.T, m *pack.Manifest, name string) pack.ServiceEntry {
	t.Helper()
	if m.Consistency == nil {
		t.Fatal("no consistency section")
	}
	for _, s := range m.Consistency.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %s in %+v", name, m.Consistency.Services)
	return pack.ServiceEntry{}
}

func TestRunHooksAndDumpWithTheVolumeExcluded(t *testing.T) {
	eng := newExecEngine()
	eng.labels("dockpack.pre-backup", "pre 1", "dockpack.post-backup", "post", "dockpack.dump", "dumpit /data", "dockpack.dump-ext", "txt",
		"dockpack.restore-dump", "loadit /data", "dockpack.volumes", "exclude")
	eng.script["dumpit"] = func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
		n, err := fmt.Fprint(o.Stdout, "rows 3\n")
		return dockerapi.ExecResult{StdoutBytes: int64(n), Duration: time.Millisecond}, err
	}
	spec := backuptest.MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	res, err := backup.Run(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"exec c-app pre 1", "exec c-app dumpit /data", "stop c-app", "start c-app", "exec c-app post"}
	if got := eng.calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %v\nwant  %v", got, want)
	}
	m := res.Manifest
	if _, ok := m.File("volumes/demo_data.tar"); ok {
		t.Error("the excluded volume was exported")
	}
	if b, err := os.ReadFile(filepath.Join(res.Pack, "dumps", "app.txt")); err != nil || string(b) != "rows 3\n" {
		t.Fatalf("dump %q %v", b, err)
	}
	if f, _ := m.File("dumps/app.txt"); f.Kind != pack.FileDump || f.Size != 7 {
		t.Fatalf("dump entry %+v", f)
	}
	app := crService(t, m, "app")
	if app.Dump == nil || app.Dump.File != "dumps/app.txt" || !reflect.DeepEqual(app.Dump.RestoreCommand, []string{"loadit", "/data"}) || !app.Stopped {
		t.Fatalf("app %+v", app)
	}
	if len(app.Hooks) != 2 || app.Hooks[0].Phase != pack.PhasePreBackup || app.Hooks[0].Status != pack.HookOK || app.Hooks[0].StdoutTail != "ok pre\n" ||
		app.Hooks[1].Phase != pack.PhasePostBackup || app.Hooks[1].Status != pack.HookOK {
		t.Fatalf("hooks %+v", app.Hooks)
	}
	if len(app.Volumes) != 1 || app.Volumes[0].Capture != pack.CaptureDump || app.Volumes[0].File != "dumps/app.txt" {
		t.Fatalf("volumes %+v", app.Volumes)
	}
	if !reflect.DeepEqual(m.Consistency.StopOrder, []string{"demo_app_1"}) {
		t.Fatalf("stop order %v", m.Consistency.StopOrder)
	}
	if _, _, err := pack.ReadManifest(context.Background(), res.Pack); err != nil {
		t.Fatalf("the manifest does not read back: %v", err)
	}
}

func TestRunFailingPreHook(t *testing.T) {
	for _, onError := range []string{"fail", "continue"} {
		t.Run(onError, func(t *testing.T) {
			eng := newExecEngine()
			eng.labels("dockpack.pre-backup", "broken", "dockpack.post-backup", "post", "dockpack.hook-on-error", onError)
			eng.script["broken"] = func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
				return dockerapi.ExecResult{ExitCode: 3, StderrTail: "cannot flush\n"}, nil
			}
			spec := backuptest.MustSpec(t, eng)
			spec.StopServices = []string{"app"}
			res, err := backup.Run(context.Background(), spec, nil)
			if onError == "fail" {
				if !errors.Is(err, backup.ErrHookFailed) || backup.ErrorCode(err) != "hook_failed" || !strings.Contains(err.Error(), "service app") ||
					!strings.Contains(err.Error(), "exited with 3: cannot flush") {
					t.Fatalf("err = %v (code %s)", err, backup.ErrorCode(err))
				}
				if got := eng.calls(); !reflect.DeepEqual(got, []string{"exec c-app broken", "exec c-app post"}) {
					t.Fatalf("calls %v: the post hook must run, nothing be stopped", got)
				}
				if ents, _ := os.ReadDir(spec.Target); len(ents) != 0 {
					t.Fatalf("target holds %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			app := crService(t, res.Manifest, "app")
			if app.Hooks[0].Status != pack.HookIgnored || app.Hooks[0].ExitCode != 3 || !strings.Contains(app.Hooks[0].Error, "cannot flush") {
				t.Fatalf("hook %+v", app.Hooks[0])
			}
		})
	}
}

func TestRunPostHooksAfterAFailedVolumeStep(t *testing.T) {
	eng := newExecEngine()
	eng.labels("dockpack.post-backup", "post")
	eng.ExportErr["demo_data"] = dockerapi.ErrVolumeExportIncomplete
	spec := backuptest.MustSpec(t, eng)
	spec.StopServices = []string{"app"}
	_, err := backup.Run(context.Background(), spec, nil)
	if !errors.Is(err, dockerapi.ErrVolumeExportIncomplete) {
		t.Fatalf("err = %v", err)
	}
	if got := eng.calls(); !reflect.DeepEqual(got, []string{"stop c-app", "start c-app", "exec c-app post"}) {
		t.Fatalf("calls %v: restart, then the post hook", got)
	}
}

func TestRunDumpFailures(t *testing.T) {
	for name, fn := range map[string]func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error){
		"exits 2": func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
			fmt.Fprint(o.Stdout, "partial")
			return dockerapi.ExecResult{ExitCode: 2, StdoutBytes: 7, StderrTail: "access denied\n"}, nil
		},
		"empty": func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) { return dockerapi.ExecResult{}, nil },
		"times out": func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
			return dockerapi.ExecResult{TimedOut: true, ExitCode: -1}, dockerapi.ErrExecTimeout
		},
	} {
		t.Run(name, func(t *testing.T) {
			eng := newExecEngine()
			eng.labels("dockpack.dump", "dumpit", "dockpack.volumes", "exclude")
			eng.script["dumpit"] = fn
			spec := backuptest.MustSpec(t, eng)
			_, err := backup.Run(context.Background(), spec, nil)
			if !errors.Is(err, backup.ErrDumpFailed) || backup.ErrorCode(err) != "dump_failed" || !strings.Contains(err.Error(), "service app") {
				t.Fatalf("err = %v", err)
			}
			if ents, _ := os.ReadDir(spec.Target); len(ents) != 0 {
				t.Fatalf("target holds %v", ents)
			}
		})
	}
}

func TestRunStopsDependentsFirst(t *testing.T) {
	eng := newExecEngine()
	// worker depends on app (compose v2's label): worker stops first, starts last.
	eng.Stack.Containers[1].State, eng.Stack.Containers[1].Labels = "running", map[string]string{"com.docker.compose.depends_on": "app:service_started:false"}
	eng.SetRunning("c-worker", true)
	spec := backuptest.MustSpec(t, eng)
	spec.StopApps = []string{"app"} // app and everything depending on it
	res, err := backup.Run(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := eng.calls(); !reflect.DeepEqual(got, []string{"stop c-worker", "stop c-app", "start c-app", "start c-worker"}) {
		t.Fatalf("calls %v", got)
	}
	if got := res.Manifest.Consistency.StopOrder; !reflect.DeepEqual(got, []string{"demo-worker-1", "demo_app_1"}) {
		t.Fatalf("stop order %v", got)
	}
	if !eng.IsRunning("c-app") || !eng.IsRunning("c-worker") {
		t.Fatal("not running again")
	}
}

// TestRunHooksInTheLog: each hook run is logged (the job log is the
// backup's Logger teed at info) with its service, phase, status, exit code,
// duration and output tails; a failed one as a warning with its error; the
// dump with its file, size and duration.
func TestRunHooksInTheLog(t *testing.T) {
	eng := newExecEngine()
	eng.labels("dockpack.pre-backup", "broken", "dockpack.post-backup", "post", "dockpack.hook-on-error", "continue",
		"dockpack.dump", "dumpit", "dockpack.volumes", "exclude")
	eng.script["broken"] = func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
		return dockerapi.ExecResult{ExitCode: 3, StdoutTail: "flushing\n", StderrTail: "cannot flush\n", Duration: 12 * time.Millisecond}, nil
	}
	eng.script["dumpit"] = func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
		n, err := fmt.Fprint(o.Stdout, "rows 3\n")
		return dockerapi.ExecResult{StdoutBytes: int64(n), Duration: 5 * time.Millisecond}, err
	}
	core, logs := observer.New(zapcore.InfoLevel)
	var lines []string // the job log's lines, made as jobs makes them (backup/jobs/run.go)
	sink := &logsink.Core{LevelEnabler: zapcore.InfoLevel, Sink: func(level, line string) { lines = append(lines, level+" "+line) }, Drop: []string{"job_id", "project"}}
	spec := backuptest.MustSpec(t, eng)
	spec.Logger = zap.New(zapcore.NewTee(core, sink))
	if _, err := backup.Run(context.Background(), spec, nil); err != nil {
		t.Fatal(err)
	}
	fields := func(msg string) map[string]any {
		t.Helper()
		ents := logs.FilterMessage(msg).All()
		if len(ents) != 1 {
			t.Fatalf("%d log entries %q, want 1: %+v", len(ents), msg, logs.All())
		}
		return ents[0].ContextMap()
	}
	failed := fields("hook failed")
	if failed["service"] != "app" || failed["phase"] != pack.PhasePreBackup || failed["status"] != pack.HookIgnored || failed["exit_code"] != int64(3) ||
		failed["took"] != 12*time.Millisecond || failed["stdout"] != "flushing\n" || failed["stderr"] != "cannot flush\n" || failed["on_error"] != "continue" ||
		!strings.Contains(fmt.Sprint(failed["error"]), "exited with 3") {
		t.Errorf("hook failed: %v", failed)
	}
	if ran := fields("hook ran"); ran["phase"] != pack.PhasePostBackup || ran["status"] != pack.HookOK || ran["exit_code"] != int64(0) || ran["stdout"] != "ok post\n" {
		t.Errorf("hook ran: %v", ran)
	}
	if d := fields("dump written"); d["service"] != "app" || d["file"] != "dumps/app.dump" || d["bytes"] != int64(7) || d["took"] != 5*time.Millisecond {
		t.Errorf("dump written: %v", d)
	}
	var jobLine string
	for _, l := range lines {
		if strings.HasPrefix(l, "warn hook failed ") {
			jobLine = l
		}
	}
	for _, want := range []string{"exit_code=3", "phase=pre-backup", "service=app", "status=continued", "stderr=cannot flush", "stdout=flushing", "took=12ms"} {
		if !strings.Contains(jobLine, want) {
			t.Errorf("the job log's line %q lacks %s", jobLine, want)
		}
	}
}

// TestRunStorePackDumpRoundTrip: in a store pack (format 2) the dump is
// stored as chunks like any file (the pack verifies); restore --dumps
// streams it from them into the restore command (it read a plain file).
func TestRunStorePackDumpRoundTrip(t *testing.T) {
	eng := newExecEngine()
	eng.labels("dockpack.dump", "dumpit", "dockpack.dump-ext", "txt", "dockpack.restore-dump", "loadit", "dockpack.volumes", "exclude")
	const dump = "testapp-db 1\nrows 2\n1 a\n2 b\n"
	eng.script["dumpit"] = func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
		n, err := fmt.Fprint(o.Stdout, dump)
		return dockerapi.ExecResult{StdoutBytes: int64(n)}, err
	}
	var loaded strings.Builder
	eng.script["loadit"] = func(o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
		_, err := io.Copy(&loaded, o.Stdin)
		return dockerapi.ExecResult{}, err
	}
	spec := backuptest.MustSpec(t, eng)
	spec.Format = backup.FormatStore
	res, err := backup.Run(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Manifest.IsStore() {
		t.Fatal("not a store pack")
	}
	if _, err := os.Stat(filepath.Join(res.Pack, "dumps", "app.txt")); err == nil {
		t.Fatal("the store pack holds the dump as a plain file")
	}
	// (The fake engine's images and volumes are no tars: only the dump's check counts.)
	vr, _ := pack.Verify(context.Background(), res.Pack, pack.VerifyOptions{StagingDir: t.TempDir()})
	if i := slices.IndexFunc(vr.Checks, func(c check.Check) bool { return c.Path == "dumps/app.txt" }); i < 0 || vr.Checks[i].Status != check.OK {
		t.Fatalf("verify of the dump: %+v", vr.Checks)
	}
	rr, err := restore.RunDumps(context.Background(), res.Pack, restore.DumpsSpec{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if loaded.String() != dump || len(rr.Loaded) != 1 || rr.Loaded[0].Bytes != int64(len(dump)) {
		t.Fatalf("loaded %q: %+v", loaded.String(), rr)
	}
}
