package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// rsVolume is a volume of rsEngine.
type rsVolume struct {
	spec    dockerapi.VolumeSpec
	content []byte // the last tar imported (nil: empty)
	users   []dockerapi.VolumeUser
}

// rsEngine is an in-memory RestoreEngine.
type rsEngine struct {
	mu       sync.Mutex
	images   map[string]string // ref (tag or config digest) → config digest
	onLoad   map[string]string // refs the next LoadImages creates
	loads    int
	loadErr  error
	volumes  map[string]*rsVolume
	markers  map[string][]string // volume → packs
	running  map[string]bool     // container ID → running
	helpers  int                 // helper images imported and not removed
	imported []string            // volumes ImportVolume filled
	calls    []string
}

func newRsEngine(p *rsPack) *rsEngine {
	return &rsEngine{
		images:  map[string]string{},
		onLoad:  map[string]string{p.ImageTag: p.Digest, p.Digest: p.Digest},
		volumes: map[string]*rsVolume{},
		markers: map[string][]string{},
		running: map[string]bool{},
	}
}

func (e *rsEngine) call(s string) {
	e.mu.Lock()
	e.calls = append(e.calls, s)
	e.mu.Unlock()
}

func (e *rsEngine) LoadImages(ctx context.Context, r io.Reader) (dockerapi.LoadResult, error) {
	e.call("load")
	if _, err := io.Copy(io.Discard, r); err != nil {
		return dockerapi.LoadResult{}, fmt.Errorf("%w: %w", dockerapi.ErrImageLoad, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loads++
	if e.loadErr != nil {
		return dockerapi.LoadResult{}, e.loadErr
	}
	var loaded []string
	for ref, d := range e.onLoad {
		e.images[ref] = d
		loaded = append(loaded, ref)
	}
	return dockerapi.LoadResult{Loaded: loaded}, nil
}

func (e *rsEngine) ImageConfigDigest(ctx context.Context, ref string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.images[ref]
	if !ok {
		return "", fmt.Errorf("%w: %s", dockerapi.ErrImageNotFound, ref)
	}
	return d, nil
}

func (e *rsEngine) HelperImage(ctx context.Context) (string, func() error, error) {
	e.call("helper-image")
	e.mu.Lock()
	e.helpers++
	e.mu.Unlock()
	var once sync.Once
	return "dockpack-helper:test", func() error {
		once.Do(func() {
			e.mu.Lock()
			e.helpers--
			e.mu.Unlock()
		})
		return nil
	}, nil
}

func (e *rsEngine) InspectVolume(ctx context.Context, name string) (dockerapi.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return dockerapi.Volume{}, fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	out := dockerapi.Volume{Name: name, Driver: v.spec.Driver, Options: v.spec.Options, Labels: v.spec.Labels}
	for _, u := range v.users {
		u.Running = e.running[u.ContainerID]
		out.UsedBy = append(out.UsedBy, u)
	}
	for range e.markers[name] {
		out.UsedBy = append(out.UsedBy, dockerapi.VolumeUser{ContainerID: "m", ContainerName: "dockpack-restore-marker-0123"})
	}
	return out, nil
}

func (e *rsEngine) CreateVolume(ctx context.Context, s dockerapi.VolumeSpec) error {
	e.call("create " + s.Name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.volumes[s.Name]; ok {
		return fmt.Errorf("%w: %s", dockerapi.ErrVolumeExists, s.Name)
	}
	s.Labels, s.Options = maps.Clone(s.Labels), maps.Clone(s.Options)
	e.volumes[s.Name] = &rsVolume{spec: s}
	return nil
}

func (e *rsEngine) RemoveVolume(ctx context.Context, name string, force bool) error {
	e.call("remove " + name)
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	if len(v.users) > 0 || len(e.markers[name]) > 0 {
		return fmt.Errorf("remove volume %s: volume is in use", name)
	}
	delete(e.volumes, name)
	return nil
}

func (e *rsEngine) VolumeEmpty(ctx context.Context, name, helperImage string) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return false, fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	return len(v.content) == 0, nil
}

func (e *rsEngine) ImportVolume(ctx context.Context, name, helperImage string, r io.Reader) error {
	e.call("import " + name)
	b, err := io.ReadAll(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	v.content = append(v.content, b...) // what was extracted stays, also on error
	if err != nil {
		return fmt.Errorf("%w: volume %q: %w", dockerapi.ErrVolumeImport, name, err)
	}
	e.imported = append(e.imported, name)
	return nil
}

func (e *rsEngine) MarkVolumeIncomplete(ctx context.Context, volume, image, pack string) error {
	e.call("mark " + volume)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.markers[volume] = append(e.markers[volume], pack)
	return nil
}

func (e *rsEngine) VolumeIncompleteMarks(ctx context.Context, volume string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.markers[volume]), nil
}

func (e *rsEngine) ClearVolumeMarks(ctx context.Context, volume string) error {
	e.call("unmark " + volume)
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.markers, volume)
	return nil
}

func (e *rsEngine) StopContainers(ctx context.Context, ids []string, timeout time.Duration) (func() error, error) {
	e.call("stop " + strings.Join(ids, ","))
	e.mu.Lock()
	defer e.mu.Unlock()
	var stopped []string
	for _, id := range ids {
		if e.running[id] {
			e.running[id] = false
			stopped = append(stopped, id)
		}
	}
	return func() error {
		e.call("start " + strings.Join(stopped, ","))
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, id := range stopped {
			e.running[id] = true
		}
		return nil
	}, nil
}

// existing adds a volume that exists already.
func (e *rsEngine) existing(name string, content []byte, users ...dockerapi.VolumeUser) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.volumes[name] = &rsVolume{spec: dockerapi.VolumeSpec{Name: name, Driver: "local", Labels: map[string]string{}}, content: content, users: users}
	for _, u := range users {
		e.running[u.ContainerID] = u.Running
	}
}

func (e *rsEngine) volume(name string) *rsVolume {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.volumes[name]
}

func (e *rsEngine) marked(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.markers[name]) > 0
}

// MustRsSpec is a restore spec into eng with a fresh database destination.
func MustRsSpec(t *testing.T, eng *rsEngine) backup.RestoreSpec {
	t.Helper()
	return backup.RestoreSpec{Engine: eng, SQLiteDest: filepath.Join(t.TempDir(), "restored.db"), StagingDir: t.TempDir()}
}

func TestRestoreIntoEmptyEngine(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	spec := MustRsSpec(t, eng)
	var last backup.Progress
	var backwards bool
	spec.Progress = func(pr backup.Progress) {
		if pr.Percent < last.Percent {
			backwards = true
		}
		last = pr
	}
	spec.ProgressInterval = time.Nanosecond
	res, err := backup.Restore(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res.Verify == nil || !res.Verify.OK || res.PackageHash != p.Hash {
		t.Fatalf("verify: %+v", res.Verify)
	}
	if eng.loads != 1 || len(res.Images) != 1 || !res.Images[0].Checked || res.Images[0].Ref != p.ImageTag {
		t.Fatalf("images: loads %d, %+v", eng.loads, res.Images)
	}
	for _, name := range []string{"demo_data", "shared"} {
		v := eng.volume(name)
		want := p.Files["volumes/"+name+".tar"]
		if v == nil || !bytes.Equal(v.content, want) {
			t.Fatalf("volume %s: %+v", name, v)
		}
		if eng.marked(name) {
			t.Errorf("volume %s still marked incomplete", name)
		}
	}
	if got := eng.volume("demo_data").spec.Labels; got["com.docker.compose.project"] != "demo" || got["com.docker.compose.config-hash"] != "abc" {
		t.Errorf("labels under the same project name changed: %v", got)
	}
	db, err := os.ReadFile(spec.SQLiteDest)
	if err != nil || !bytes.Equal(db, p.Files["auth.db"]) || res.SQLite == nil || res.SQLite.SHA256 != rsHex(p.Files["auth.db"]) {
		t.Fatalf("database: %v %+v", err, res.SQLite)
	}
	if eng.helpers != 0 {
		t.Errorf("%d helper images left", eng.helpers)
	}
	if res.Bytes != p.Manifest.PackSize()-int64(len(p.Files["compose/docker-compose.yml"])) {
		t.Errorf("restored %d bytes, want %d", res.Bytes, p.Manifest.PackSize()-int64(len(p.Files["compose/docker-compose.yml"])))
	}
	if backwards || last.Percent != 100 {
		t.Errorf("progress backwards=%v last %+v", backwards, last)
	}
	// Marks are set before each import and cleared after it.
	if i, j, k := slices.Index(eng.calls, "mark demo_data"), slices.Index(eng.calls, "import demo_data"), slices.Index(eng.calls, "unmark demo_data"); !(i >= 0 && i < j && j < k) {
		t.Errorf("calls %v", eng.calls)
	}

	// Again: everything is there now; the volumes hold data → refused without --force.
	_, err = backup.Restore(context.Background(), p.Dir, MustRsSpec(t, eng))
	var re *backup.RestoreRefusedError
	if !errors.As(err, &re) || !errors.Is(err, backup.ErrPrecheck) || len(re.Problems) != 2 {
		t.Fatalf("second restore: %v", err)
	}
	// Forced: replaced; the images are present with their digest and not loaded again.
	spec2 := MustRsSpec(t, eng)
	spec2.Force = true
	res, err = backup.Restore(context.Background(), p.Dir, spec2)
	if err != nil || eng.loads != 1 || res.Plan.Volumes[0].Action != backup.ActionReplace || res.Plan.Images[0].Action != backup.ActionPresent {
		t.Fatalf("forced restore: %v loads %d plan %+v", err, eng.loads, res.Plan)
	}
}

func TestRestorePlanOnlyChangesNothing(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	eng.existing("demo_data", []byte("old data"))
	spec := MustRsSpec(t, eng)
	spec.PlanOnly = true
	res, err := backup.Restore(context.Background(), p.Dir, spec)
	if err != nil || !res.Planned {
		t.Fatalf("plan: %v", err)
	}
	if len(eng.calls) != 0 {
		t.Fatalf("a plan changed the engine: %v", eng.calls)
	}
	if _, err := os.Stat(spec.SQLiteDest); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a plan wrote the database")
	}
	pl := res.Plan
	if len(pl.Problems) != 1 || !strings.Contains(pl.Problems[0], "demo_data") || pl.Volumes[0].Action != backup.ActionRefuse ||
		pl.Volumes[1].Action != backup.ActionCreate || pl.Images[0].Action != backup.ActionLoad || pl.SQLite.Action != backup.ActionCreate {
		t.Fatalf("plan %+v", pl)
	}
}

func TestRestoreUnderNewProjectName(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	eng.existing("demo_data", []byte("the original, untouched"))
	spec := MustRsSpec(t, eng)
	spec.Project = "demo2"
	spec.Components = []backup.Component{backup.ComponentVolumes}
	spec.SQLiteDest = ""
	spec.Force = true // shared (external) keeps its name; it does not exist here
	res, err := backup.Restore(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	v := eng.volume("demo2_data")
	if v == nil || !bytes.Equal(v.content, p.Files["volumes/demo_data.tar"]) {
		t.Fatalf("demo2_data: %+v (plan %+v)", v, res.Plan.Volumes)
	}
	if l := v.spec.Labels; l["com.docker.compose.project"] != "demo2" || l["com.docker.compose.volume"] != "data" {
		t.Errorf("labels %v", l)
	} else if _, ok := l["com.docker.compose.config-hash"]; ok {
		t.Errorf("config-hash kept: %v", l)
	}
	if string(eng.volume("demo_data").content) != "the original, untouched" {
		t.Error("the original volume was changed")
	}
	if eng.volume("shared") == nil || eng.loads != 0 {
		t.Errorf("external volume or images: %v, loads %d", eng.volume("shared"), eng.loads)
	}
}

func TestRestoreVolumeInUse(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	eng.existing("demo_data", nil, dockerapi.VolumeUser{ContainerID: "c1", ContainerName: "demo_app_1", Running: true})
	spec := MustRsSpec(t, eng)
	spec.Components = []backup.Component{backup.ComponentVolumes}
	spec.SQLiteDest = ""
	_, err := backup.Restore(context.Background(), p.Dir, spec)
	if !errors.Is(err, backup.ErrRestoreRefused) || !strings.Contains(err.Error(), "demo_app_1") || !strings.Contains(err.Error(), "--stop-running") {
		t.Fatalf("err = %v", err)
	}
	spec.StopRunning = true
	res, err := backup.Restore(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Referenced by a container, the volume is filled in place; the container ran again afterwards.
	if res.Plan.Volumes[0].Action != backup.ActionOverwrite || !slices.Equal(res.Plan.Stop, []string{"demo_app_1"}) || !eng.running["c1"] {
		t.Fatalf("plan %+v running %v", res.Plan, eng.running)
	}
	if i, j, k := slices.Index(eng.calls, "stop c1"), slices.Index(eng.calls, "import demo_data"), slices.Index(eng.calls, "start c1"); !(i >= 0 && i < j && j < k) {
		t.Errorf("calls %v", eng.calls)
	}
}

func TestRestoreFailedImportIsMarkedAndRefilled(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	spec := MustRsSpec(t, eng)
	boom := errors.New("the network share went away")
	spec.Hooks.WrapReader = func(step backup.Step, item string, r io.Reader) io.Reader {
		if item == "demo_data" {
			return io.MultiReader(io.LimitReader(r, 1000), rsErrReader{boom})
		}
		return r
	}
	_, err := backup.Restore(context.Background(), p.Dir, spec)
	var se *backup.RestoreStepError
	if !errors.Is(err, backup.ErrRestore) || !errors.Is(err, boom) || !errors.As(err, &se) || se.Step != backup.StepVolumes || se.Item != "demo_data" {
		t.Fatalf("err = %v", err)
	}
	if !eng.marked("demo_data") {
		t.Fatal("the half-filled volume is not marked incomplete")
	}
	// The next run refills it without --force.
	res, err := backup.Restore(context.Background(), p.Dir, MustRsSpec(t, eng))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if res.Plan.Volumes[0].Action != backup.ActionRefill || eng.marked("demo_data") || !bytes.Equal(eng.volume("demo_data").content, p.Files["volumes/demo_data.tar"]) {
		t.Fatalf("refill: plan %+v", res.Plan.Volumes[0])
	}
}

type rsErrReader struct{ err error }

func (r rsErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestRestoreRefusesTamperedPack(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	MustRsFlip(t, p.Path("volumes/demo_data.tar"), 3000)
	eng := newRsEngine(p)
	_, err := backup.Restore(context.Background(), p.Dir, MustRsSpec(t, eng))
	if !errors.Is(err, backup.ErrVerify) || !strings.Contains(err.Error(), "volumes/demo_data.tar") {
		t.Fatalf("err = %v", err)
	}
	if len(eng.calls) != 0 {
		t.Fatalf("a refused restore changed the engine: %v", eng.calls)
	}
	// Without the verification, the checksum still stops the import.
	spec := MustRsSpec(t, eng)
	spec.SkipVerify = true
	_, err = backup.Restore(context.Background(), p.Dir, spec)
	if !errors.Is(err, backup.ErrPackChanged) || !eng.marked("demo_data") {
		t.Fatalf("err = %v, marked %v", err, eng.marked("demo_data"))
	}
}

func TestRestoreImageTagMoves(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	eng.images[p.ImageTag] = "sha256:" + rsHex([]byte("another image"))
	spec := MustRsSpec(t, eng)
	spec.Components = []backup.Component{backup.ComponentImages}
	spec.SQLiteDest = ""
	if _, err := backup.Restore(context.Background(), p.Dir, spec); !errors.Is(err, backup.ErrRestoreRefused) || !strings.Contains(err.Error(), p.ImageTag) {
		t.Fatalf("err = %v", err)
	}
	spec.Force = true
	res, err := backup.Restore(context.Background(), p.Dir, spec)
	if err != nil || eng.images[p.ImageTag] != p.Digest || len(res.Plan.Images[0].Moves) != 1 {
		t.Fatalf("forced: %v %+v", err, res.Plan.Images)
	}
	// A load that leaves the tag on another image is an error.
	eng.onLoad = map[string]string{p.ImageTag: "sha256:" + rsHex([]byte("wrong"))}
	eng.images = map[string]string{}
	if _, err := backup.Restore(context.Background(), p.Dir, spec); !errors.Is(err, backup.ErrImageMismatch) || !strings.Contains(err.Error(), p.Digest) {
		t.Fatalf("mismatch: %v", err)
	}
	eng.loadErr = fmt.Errorf("%w: the engine reported: no space left on device", dockerapi.ErrImageLoad)
	if _, err := backup.Restore(context.Background(), p.Dir, spec); !errors.Is(err, dockerapi.ErrImageLoad) || !errors.Is(err, backup.ErrRestore) {
		t.Fatalf("load error: %v", err)
	}
}

func TestRestoreDatabase(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	spec := backup.RestoreSpec{Components: []backup.Component{backup.ComponentDB}, SQLiteDest: filepath.Join(t.TempDir(), "app.db"), StagingDir: t.TempDir()}
	if _, err := backup.Restore(context.Background(), p.Dir, spec); err != nil {
		t.Fatal(err)
	}
	if err := sqlitesnap.Check(context.Background(), spec.SQLiteDest, sqlitesnap.IntegrityCheck); err != nil {
		t.Fatal(err)
	}
	// An existing database needs --force.
	if _, err := backup.Restore(context.Background(), p.Dir, spec); !errors.Is(err, backup.ErrRestoreRefused) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	spec.Force = true
	if _, err := backup.Restore(context.Background(), p.Dir, spec); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreDefaultComponents(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	spec := backup.RestoreSpec{Engine: eng, PlanOnly: true}
	res, err := backup.Restore(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Without --sqlite-dest the database is left out, with a note.
	if !slices.Equal(res.Plan.Components, []backup.Component{backup.ComponentVolumes, backup.ComponentImages}) || res.Plan.SQLite != nil ||
		!strings.Contains(strings.Join(res.Plan.Notes, " "), "--sqlite-dest") {
		t.Fatalf("plan %+v", res.Plan)
	}
}

func TestRestoreSpecValidate(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	cases := map[string]backup.RestoreSpec{
		"no engine":           {},
		"bad project":         {Engine: eng, Project: "Bad Name"},
		"db without dest":     {Engine: eng, Components: []backup.Component{backup.ComponentDB}},
		"empty components":    {Engine: eng, Components: []backup.Component{}},
		"unknown component":   {Engine: eng, Components: []backup.Component{"logs"}},
		"component not there": {Engine: eng, Components: []backup.Component{backup.ComponentImages}, PlanOnly: true},
	}
	// A pack without images.
	noImg := MustRsPack(t, t.TempDir(), rsCreated)
	noImg.Manifest.Contents = []backup.Component{backup.ComponentDB, backup.ComponentVolumes}
	noImg.Manifest.Images = []backup.ImageEntry{}
	delete(noImg.Files, "images.tar")
	os.Remove(noImg.Path("images.tar"))
	rsRewrite(t, noImg)
	for name, spec := range cases {
		pack := p.Dir
		if name == "component not there" {
			pack = noImg.Dir
		}
		if _, err := backup.Restore(context.Background(), pack, spec); !errors.Is(err, backup.ErrInvalidSpec) {
			t.Errorf("%s: err = %v, want ErrInvalidSpec", name, err)
		}
	}
	// Volumes of a pack without images come in through an empty helper image, removed afterwards.
	res, err := backup.Restore(context.Background(), noImg.Dir, backup.RestoreSpec{Engine: eng, StagingDir: t.TempDir()})
	if err != nil || eng.helpers != 0 || !slices.Contains(eng.calls, "helper-image") || len(res.Images) != 0 {
		t.Fatalf("restore without images: %v helpers %d calls %v", err, eng.helpers, eng.calls)
	}
}

func TestRestoreCanceled(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	eng := newRsEngine(p)
	ctx, cancel := context.WithCancel(context.Background())
	spec := MustRsSpec(t, eng)
	spec.Hooks.BeforeStep = func(ctx context.Context, s backup.Step) error {
		if s == backup.StepVolumes {
			cancel()
		}
		return nil
	}
	_, err := backup.Restore(ctx, p.Dir, spec)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, backup.ErrRestore) {
		t.Fatalf("err = %v", err)
	}
}
