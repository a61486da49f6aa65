package restore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// newRsEngine is a fake engine on which loading p's images.tar creates its image.
func newRsEngine(p *backuptest.Pack) *backuptest.Engine {
	e := backuptest.NewEngine()
	e.OnLoad = map[string]string{p.ImageTag: p.Digest, p.Digest: p.Digest}
	return e
}

// MustRsSpec is a restore spec into eng with a fresh database destination.
func MustRsSpec(t *testing.T, eng *backuptest.Engine) restore.Spec {
	t.Helper()
	return restore.Spec{Engine: eng, SQLiteDest: filepath.Join(t.TempDir(), "restored.db"), StagingDir: t.TempDir()}
}

func TestRestoreIntoEmptyEngine(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	spec := MustRsSpec(t, eng)
	var last progress.Report
	var backwards bool
	spec.Progress = func(pr progress.Report) {
		if pr.Percent < last.Percent {
			backwards = true
		}
		last = pr
	}
	spec.ProgressInterval = time.Nanosecond
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res.Verify == nil || !res.Verify.OK || res.PackageHash != p.Hash {
		t.Fatalf("verify: %+v", res.Verify)
	}
	if eng.Loads() != 1 || len(res.Images) != 1 || !res.Images[0].Checked || res.Images[0].Ref != p.ImageTag {
		t.Fatalf("images: loads %d, %+v", eng.Loads(), res.Images)
	}
	for _, name := range []string{"demo_data", "shared"} {
		v := eng.Volume(name)
		want := p.Files["volumes/"+name+".tar"]
		if v == nil || !bytes.Equal(v.Content, want) {
			t.Fatalf("volume %s: %+v", name, v)
		}
		if eng.Marked(name) {
			t.Errorf("volume %s still marked incomplete", name)
		}
	}
	if got := eng.Volume("demo_data").Spec.Labels; got["com.docker.compose.project"] != "demo" || got["com.docker.compose.config-hash"] != "abc" {
		t.Errorf("labels under the same project name changed: %v", got)
	}
	db, err := os.ReadFile(spec.SQLiteDest)
	if err != nil || !bytes.Equal(db, p.Files["auth.db"]) || res.SQLite == nil || res.SQLite.SHA256 != backuptest.Hex(p.Files["auth.db"]) {
		t.Fatalf("database: %v %+v", err, res.SQLite)
	}
	if eng.HelperImages() != 0 {
		t.Errorf("%d helper images left", eng.HelperImages())
	}
	if res.Bytes != p.Manifest.PackSize()-int64(len(p.Files["compose/docker-compose.yml"])) {
		t.Errorf("restored %d bytes, want %d", res.Bytes, p.Manifest.PackSize()-int64(len(p.Files["compose/docker-compose.yml"])))
	}
	if backwards || last.Percent != 100 {
		t.Errorf("progress backwards=%v last %+v", backwards, last)
	}
	// Marks are set before each import and cleared after it.
	if i, j, k := slices.Index(eng.Calls(), "mark demo_data"), slices.Index(eng.Calls(), "import demo_data"), slices.Index(eng.Calls(), "unmark demo_data"); !(i >= 0 && i < j && j < k) {
		t.Errorf("calls %v", eng.Calls())
	}

	// Again: everything is there now; the volumes hold data → refused without --force.
	_, err = restore.Run(context.Background(), p.Dir, MustRsSpec(t, eng))
	var re *restore.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, backup.ErrPrecheck) || len(re.Problems) != 2 {
		t.Fatalf("second restore: %v", err)
	}
	// Forced: replaced; the images are present with their digest and not loaded again.
	spec2 := MustRsSpec(t, eng)
	spec2.Force = true
	res, err = restore.Run(context.Background(), p.Dir, spec2)
	if err != nil || eng.Loads() != 1 || res.Plan.Volumes[0].Action != restore.ActionReplace || res.Plan.Images[0].Action != restore.ActionPresent {
		t.Fatalf("forced restore: %v loads %d plan %+v", err, eng.Loads(), res.Plan)
	}
}

func TestRestorePlanOnlyChangesNothing(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	eng.Existing("demo_data", []byte("old data"))
	spec := MustRsSpec(t, eng)
	spec.PlanOnly = true
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil || !res.Planned {
		t.Fatalf("plan: %v", err)
	}
	if len(eng.Calls()) != 0 {
		t.Fatalf("a plan changed the engine: %v", eng.Calls())
	}
	if _, err := os.Stat(spec.SQLiteDest); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a plan wrote the database")
	}
	pl := res.Plan
	if len(pl.Problems) != 1 || !strings.Contains(pl.Problems[0], "demo_data") || pl.Volumes[0].Action != restore.ActionRefuse ||
		pl.Volumes[1].Action != restore.ActionCreate || pl.Images[0].Action != restore.ActionLoad || pl.SQLite.Action != restore.ActionCreate {
		t.Fatalf("plan %+v", pl)
	}
}

func TestRestoreUnderNewProjectName(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	eng.Existing("demo_data", []byte("the original, untouched"))
	spec := MustRsSpec(t, eng)
	spec.Project = "demo2"
	spec.Components = []pack.Component{pack.ComponentVolumes}
	spec.SQLiteDest = ""
	spec.Force = true // shared (external) keeps its name; it does not exist here
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	v := eng.Volume("demo2_data")
	if v == nil || !bytes.Equal(v.Content, p.Files["volumes/demo_data.tar"]) {
		t.Fatalf("demo2_data: %+v (plan %+v)", v, res.Plan.Volumes)
	}
	if l := v.Spec.Labels; l["com.docker.compose.project"] != "demo2" || l["com.docker.compose.volume"] != "data" {
		t.Errorf("labels %v", l)
	} else if _, ok := l["com.docker.compose.config-hash"]; ok {
		t.Errorf("config-hash kept: %v", l)
	}
	if string(eng.Volume("demo_data").Content) != "the original, untouched" {
		t.Error("the original volume was changed")
	}
	if eng.Volume("shared") == nil || eng.Loads() != 0 {
		t.Errorf("external volume or images: %v, loads %d", eng.Volume("shared"), eng.Loads())
	}
}

func TestRestoreVolumeInUse(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	eng.Existing("demo_data", nil, dockerapi.VolumeUser{ContainerID: "c1", ContainerName: "demo_app_1", Running: true})
	spec := MustRsSpec(t, eng)
	spec.Components = []pack.Component{pack.ComponentVolumes}
	spec.SQLiteDest = ""
	_, err := restore.Run(context.Background(), p.Dir, spec)
	if !errors.Is(err, restore.ErrRefused) || !strings.Contains(err.Error(), "demo_app_1") || !strings.Contains(err.Error(), "--stop-running") {
		t.Fatalf("err = %v", err)
	}
	spec.StopRunning = true
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Referenced by a container, the volume is filled in place; the container ran again afterwards.
	if res.Plan.Volumes[0].Action != restore.ActionOverwrite || !slices.Equal(res.Plan.Stop, []string{"demo_app_1"}) || !eng.IsRunning("c1") {
		t.Fatalf("plan %+v running %v", res.Plan, eng.IsRunning("c1"))
	}
	if i, j, k := slices.Index(eng.Calls(), "stop c1"), slices.Index(eng.Calls(), "import demo_data"), slices.Index(eng.Calls(), "start c1"); !(i >= 0 && i < j && j < k) {
		t.Errorf("calls %v", eng.Calls())
	}
}

func TestRestoreFailedImportIsMarkedAndRefilled(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	spec := MustRsSpec(t, eng)
	boom := errors.New("the network share went away")
	spec.Hooks.WrapReader = func(step progress.Step, item string, r io.Reader) io.Reader {
		if item == "demo_data" {
			return io.MultiReader(io.LimitReader(r, 1000), rsErrReader{boom})
		}
		return r
	}
	_, err := restore.Run(context.Background(), p.Dir, spec)
	var se *restore.StepError
	if !errors.Is(err, restore.ErrFailed) || !errors.Is(err, boom) || !errors.As(err, &se) || se.Step != progress.StepVolumes || se.Item != "demo_data" {
		t.Fatalf("err = %v", err)
	}
	if !eng.Marked("demo_data") {
		t.Fatal("the half-filled volume is not marked incomplete")
	}
	// The next run refills it without --force.
	res, err := restore.Run(context.Background(), p.Dir, MustRsSpec(t, eng))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if res.Plan.Volumes[0].Action != restore.ActionRefill || eng.Marked("demo_data") || !bytes.Equal(eng.Volume("demo_data").Content, p.Files["volumes/demo_data.tar"]) {
		t.Fatalf("refill: plan %+v", res.Plan.Volumes[0])
	}
}

type rsErrReader struct{ err error }

func (r rsErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestRestoreRefusesTamperedPack(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	backuptest.MustFlip(t, p.Path("volumes/demo_data.tar"), 3000)
	eng := newRsEngine(p)
	_, err := restore.Run(context.Background(), p.Dir, MustRsSpec(t, eng))
	if !errors.Is(err, pack.ErrVerify) || !strings.Contains(err.Error(), "volumes/demo_data.tar") {
		t.Fatalf("err = %v", err)
	}
	if len(eng.Calls()) != 0 {
		t.Fatalf("a refused restore changed the engine: %v", eng.Calls())
	}
	// Without the verification, the checksum still stops the import.
	spec := MustRsSpec(t, eng)
	spec.SkipVerify = true
	_, err = restore.Run(context.Background(), p.Dir, spec)
	if !errors.Is(err, restore.ErrPackChanged) || !eng.Marked("demo_data") {
		t.Fatalf("err = %v, marked %v", err, eng.Marked("demo_data"))
	}
}

func TestRestoreImageTagMoves(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	eng.SetImage(p.ImageTag, "sha256:"+backuptest.Hex([]byte("another image")))
	spec := MustRsSpec(t, eng)
	spec.Components = []pack.Component{pack.ComponentImages}
	spec.SQLiteDest = ""
	if _, err := restore.Run(context.Background(), p.Dir, spec); !errors.Is(err, restore.ErrRefused) || !strings.Contains(err.Error(), p.ImageTag) {
		t.Fatalf("err = %v", err)
	}
	spec.Force = true
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil || eng.Image(p.ImageTag) != p.Digest || len(res.Plan.Images[0].Moves) != 1 {
		t.Fatalf("forced: %v %+v", err, res.Plan.Images)
	}
	// A load that leaves the tag on another image is an error.
	eng.OnLoad = map[string]string{p.ImageTag: "sha256:" + backuptest.Hex([]byte("wrong"))}
	eng.ClearImages()
	if _, err := restore.Run(context.Background(), p.Dir, spec); !errors.Is(err, restore.ErrImageMismatch) || !strings.Contains(err.Error(), p.Digest) {
		t.Fatalf("mismatch: %v", err)
	}
	eng.LoadErr = fmt.Errorf("%w: the engine reported: no space left on device", dockerapi.ErrImageLoad)
	if _, err := restore.Run(context.Background(), p.Dir, spec); !errors.Is(err, dockerapi.ErrImageLoad) || !errors.Is(err, restore.ErrFailed) {
		t.Fatalf("load error: %v", err)
	}
}

func TestRestoreDatabase(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	spec := restore.Spec{Components: []pack.Component{pack.ComponentDB}, SQLiteDest: filepath.Join(t.TempDir(), "app.db"), StagingDir: t.TempDir()}
	if _, err := restore.Run(context.Background(), p.Dir, spec); err != nil {
		t.Fatal(err)
	}
	if err := sqlitesnap.Check(context.Background(), spec.SQLiteDest, sqlitesnap.IntegrityCheck); err != nil {
		t.Fatal(err)
	}
	// An existing database needs --force.
	if _, err := restore.Run(context.Background(), p.Dir, spec); !errors.Is(err, restore.ErrRefused) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	spec.Force = true
	if _, err := restore.Run(context.Background(), p.Dir, spec); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreDefaultComponents(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	spec := restore.Spec{Engine: eng, PlanOnly: true}
	res, err := restore.Run(context.Background(), p.Dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Without --sqlite-dest the database is left out, with a note.
	if !slices.Equal(res.Plan.Components, []pack.Component{pack.ComponentVolumes, pack.ComponentImages}) || res.Plan.SQLite != nil ||
		!strings.Contains(strings.Join(res.Plan.Notes, " "), "--sqlite-dest") {
		t.Fatalf("plan %+v", res.Plan)
	}
}

func TestRestoreSpecValidate(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	cases := map[string]restore.Spec{
		"no engine":           {},
		"bad project":         {Engine: eng, Project: "Bad Name"},
		"db without dest":     {Engine: eng, Components: []pack.Component{pack.ComponentDB}},
		"empty components":    {Engine: eng, Components: []pack.Component{}},
		"unknown component":   {Engine: eng, Components: []pack.Component{"logs"}},
		"component not there": {Engine: eng, Components: []pack.Component{pack.ComponentImages}, PlanOnly: true},
	}
	// A pack without images.
	noImg := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	noImg.Manifest.Contents = []pack.Component{pack.ComponentDB, pack.ComponentVolumes}
	noImg.Manifest.Images = []pack.ImageEntry{}
	delete(noImg.Files, "images.tar")
	os.Remove(noImg.Path("images.tar"))
	backuptest.Rewrite(t, noImg)
	for name, spec := range cases {
		packDir := p.Dir
		if name == "component not there" {
			packDir = noImg.Dir
		}
		if _, err := restore.Run(context.Background(), packDir, spec); !errors.Is(err, backup.ErrInvalidSpec) {
			t.Errorf("%s: err = %v, want ErrInvalidSpec", name, err)
		}
	}
	// Volumes of a pack without images come in through an empty helper image, removed afterwards.
	res, err := restore.Run(context.Background(), noImg.Dir, restore.Spec{Engine: eng, StagingDir: t.TempDir()})
	if err != nil || eng.HelperImages() != 0 || !slices.Contains(eng.Calls(), "helper-image") || len(res.Images) != 0 {
		t.Fatalf("restore without images: %v helpers %d calls %v", err, eng.HelperImages(), eng.Calls())
	}
}

func TestRestoreCanceled(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	eng := newRsEngine(p)
	ctx, cancel := context.WithCancel(context.Background())
	spec := MustRsSpec(t, eng)
	spec.Hooks.BeforeStep = func(ctx context.Context, s progress.Step) error {
		if s == progress.StepVolumes {
			cancel()
		}
		return nil
	}
	_, err := restore.Run(ctx, p.Dir, spec)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, restore.ErrFailed) {
		t.Fatalf("err = %v", err)
	}
}
