package restore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
)

const csDump = "testapp-db 1\nrows 0\nsha256 e3b0\n"

// csPack is backuptest's pack with a dump of service db and a captured
// bind of service app (/srv/demo/app.ini), described in its manifest.
func csPack(t *testing.T, restoreCmd []string, stops bool) *backuptest.Pack {
	t.Helper()
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	files := map[string][]byte{
		"dumps/db.sql":              []byte(csDump),
		"binds/app/etc_app.ini.tar": backuptest.MustTar(t, backuptest.Entry{Name: "app.ini", Body: "[app]\nname=demo\n"}),
	}
	p.Manifest.Consistency = &pack.Consistency{ComposeFiles: []string{}, Profiles: []string{}, StopOrder: []string{},
		Services: []pack.ServiceEntry{{Name: "db", Containers: []string{"demo_db_1"}, Volumes: []pack.ServiceVolume{}, Hooks: []pack.HookRun{},
			Dump: &pack.DumpEntry{File: "dumps/db.sql", Container: "demo_db_1", Command: []string{"dump"}, RestoreCommand: restoreCmd, RestoreStops: stops,
				Size: int64(len(csDump))}}},
		Binds: []pack.BindEntry{{Service: "app", Container: "demo_app_1", Source: "/srv/demo/app.ini", Destination: "/etc/app.ini", Type: pack.BindFile,
			Size: 16, File: "binds/app/etc_app.ini.tar"}},
	}
	backuptest.Rewrite(t, p)
	for rel, b := range files {
		os.MkdirAll(filepath.Dir(p.Path(rel)), 0o755)
		if err := os.WriteFile(p.Path(rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
		kind := pack.FileDump
		if strings.HasPrefix(rel, "binds/") {
			kind = pack.FileBind
		}
		p.Files[rel] = b
		p.Manifest.Files = append(p.Manifest.Files, pack.FileEntry{Path: rel, Kind: kind, Size: int64(len(b)), SHA256: backuptest.Hex(b)})
	}
	slices.SortFunc(p.Manifest.Files, func(a, b pack.FileEntry) int { return strings.Compare(a.Path, b.Path) })
	data, err := pack.MarshalManifest(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.Path(pack.ManifestFile), data, 0o644)
	p.Hash = backuptest.Hex(data)
	var sums []pack.Sum
	for _, f := range p.Manifest.Files {
		sums = append(sums, pack.Sum{SHA256: f.SHA256, Path: f.Path})
	}
	sums = append(sums, pack.Sum{SHA256: p.Hash, Path: pack.ManifestFile})
	os.WriteFile(p.Path(pack.SumsFile), pack.FormatSums(sums), 0o644)
	return p
}

func TestRestoreBindsOnRequestAndTheNextStep(t *testing.T) {
	p := csPack(t, []string{"load"}, false)
	// Without --binds: not restored, and the next steps say so.
	spec := MustRsSpec(t, newRsEngine(p))
	spec.Lang = i18n.English
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.Binds) != 0 || len(res.Next) != 2 || !strings.Contains(res.Next[0], "--dumps") || !strings.Contains(res.Next[1], "--binds") {
		t.Fatalf("binds %+v next %q", res.Plan.Binds, res.Next)
	}
	// Under a root: restored there, checked while it streams.
	root := t.TempDir()
	spec = MustRsSpec(t, newRsEngine(p))
	spec.BindsRoot = root
	res, err = restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(root, "srv", "demo", "app.ini")
	if b, err := os.ReadFile(dest); err != nil || string(b) != "[app]\nname=demo\n" {
		t.Fatalf("restored bind %q %v", b, err)
	}
	if len(res.Plan.Binds) != 1 || res.Plan.Binds[0].Action != restore.ActionCreate || len(res.Next) != 1 {
		t.Fatalf("plan %+v next %q", res.Plan.Binds, res.Next)
	}
	// Again: the file holds data, refused without --force, nothing changed.
	os.WriteFile(dest, []byte("mine"), 0o644)
	spec = MustRsSpec(t, newRsEngine(p))
	spec.BindsRoot = root
	_, err = restore.Run(context.Background(), p.Dir, spec)
	if !errors.Is(err, restore.ErrRefused) || !strings.Contains(err.Error(), dest) {
		t.Fatalf("over existing data: %v", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "mine" {
		t.Fatalf("changed: %q", b)
	}
	spec.Force = true
	spec.SQLiteDest = filepath.Join(t.TempDir(), "again.db")
	if _, err := restore.Run(context.Background(), p.Dir, spec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "[app]\nname=demo\n" {
		t.Fatalf("forced: %q", b)
	}
}

// dumpsEngine runs the stack's containers and records what each exec read.
type dumpsEngine struct {
	mu      sync.Mutex
	stack   dockerapi.Stack
	stdin   map[string]string
	exit    int
	stopsOn bool // the exec stops the container (redis)
	started []string
}

func (e *dumpsEngine) ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error) {
	if project != e.stack.Project {
		return dockerapi.Stack{}, &dockerapi.ProjectNotFoundError{Project: project}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stack, nil
}

func (e *dumpsEngine) Exec(ctx context.Context, o dockerapi.ExecOptions) (dockerapi.ExecResult, error) {
	var b bytes.Buffer
	_, err := io.Copy(&b, o.Stdin)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stdin[o.Container] = b.String()
	if err != nil {
		return dockerapi.ExecResult{ExitCode: -1}, err
	}
	if e.stopsOn {
		e.stack.Containers[0].Running = false
		return dockerapi.ExecResult{ExitCode: 137}, nil
	}
	return dockerapi.ExecResult{ExitCode: e.exit, StdoutTail: "loaded\n", StderrTail: "bad input\n"}, nil
}

func (e *dumpsEngine) ContainerState(ctx context.Context, id string) (dockerapi.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stack.Containers[0], nil
}

func (e *dumpsEngine) StartContainers(ctx context.Context, ids []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, ids...)
	e.stack.Containers[0].Running = true
	return nil
}

func newDumpsEngine(running bool) *dumpsEngine {
	return &dumpsEngine{stdin: map[string]string{}, stack: dockerapi.Stack{Project: "demo",
		Containers: []dockerapi.Container{{ID: "c-db", Name: "demo_db_1", Service: "db", Running: running}}}}
}

func TestRunDumpsPipesEachDump(t *testing.T) {
	p := csPack(t, []string{"load", "/data"}, false)
	eng := newDumpsEngine(true)
	res, err := restore.RunDumps(context.Background(), p.Dir, restore.DumpsSpec{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if eng.stdin["c-db"] != csDump || len(res.Loaded) != 1 || res.Loaded[0].Bytes != int64(len(csDump)) || res.Loaded[0].Restarted ||
		!strings.Contains(res.Messages[0], "dumps/db.sql") {
		t.Fatalf("%+v stdin %q", res, eng.stdin)
	}
	// A failing load names the service.
	eng.exit = 1
	if _, err := restore.RunDumps(context.Background(), p.Dir, restore.DumpsSpec{Engine: eng}); !errors.Is(err, restore.ErrFailed) ||
		!strings.Contains(err.Error(), "service db") || !strings.Contains(err.Error(), "bad input") {
		t.Fatalf("failing load: %v", err)
	}
}

func TestRunDumpsRefusals(t *testing.T) {
	p := csPack(t, []string{"load"}, false)
	eng := newDumpsEngine(false)
	_, err := restore.RunDumps(context.Background(), p.Dir, restore.DumpsSpec{Engine: eng, Lang: i18n.Chinese})
	if !errors.Is(err, restore.ErrRefused) || !strings.Contains(err.Error(), "db") || len(eng.stdin) != 0 {
		t.Fatalf("not running: %v", err)
	}
	// No restore command recorded.
	p = csPack(t, nil, false)
	if _, err := restore.RunDumps(context.Background(), p.Dir, restore.DumpsSpec{Engine: newDumpsEngine(true)}); !errors.Is(err, restore.ErrRefused) ||
		!strings.Contains(err.Error(), "dockpack.restore-dump") {
		t.Fatalf("no command: %v", err)
	}
	// A dump changed after the pack was written: checked before anything runs.
	p = csPack(t, []string{"load"}, false)
	backuptest.MustFlip(t, p.Path("dumps/db.sql"), 0)
	eng = newDumpsEngine(true)
	if _, err := restore.RunDumps(context.Background(), p.Dir, restore.DumpsSpec{Engine: eng}); !errors.Is(err, restore.ErrPackChanged) || len(eng.stdin) != 0 {
		t.Fatalf("changed dump: %v", err)
	}
	// A pack without dumps.
	plain := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	if _, err := restore.RunDumps(context.Background(), plain.Dir, restore.DumpsSpec{Engine: eng}); !errors.Is(err, restore.ErrNoDumps) {
		t.Fatalf("no dumps: %v", err)
	}
}

func TestRunDumpsStartsAServiceItsRestoreStopped(t *testing.T) {
	p := csPack(t, []string{"load"}, true)
	eng := newDumpsEngine(true)
	eng.stopsOn = true
	res, err := restore.RunDumps(context.Background(), p.Dir, restore.DumpsSpec{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Loaded[0].Restarted || !slices.Equal(eng.started, []string{"c-db"}) || len(res.Messages) != 2 {
		t.Fatalf("%+v started %v", res, eng.started)
	}
}
