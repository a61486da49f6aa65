package consistency_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/consistency"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
)

// plStack: app (running; volume shop_uploads; binds of a config file, a
// big directory, the database's directory and the docker socket) and db
// (running; volume shop_dbdata; dumps it and excludes it).
func plStack() dockerapi.Stack {
	return dockerapi.Stack{Project: "shop", Services: []string{"app", "db"},
		Containers: []dockerapi.Container{
			{ID: "c1", Name: "shop_app_1", Service: "app", Running: true, Labels: map[string]string{"dockpack.pre-backup": "sync"},
				Mounts: []dockerapi.Mount{
					{Type: "volume", Name: "shop_uploads", Destination: "/uploads", RW: true},
					{Type: "bind", Source: "/srv/shop/app.ini", Destination: "/etc/app.ini"},
					{Type: "bind", Source: "/srv/shop/big", Destination: "/big", RW: true},
					{Type: "bind", Source: "/srv/shop/data", Destination: "/data", RW: true},
					{Type: "bind", Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock", RW: true},
					{Type: "bind", Source: "/srv/shop/extra", Destination: "/extra"},
				}},
			{ID: "c2", Name: "shop_db_1", Service: "db", Running: true,
				Labels: map[string]string{"dockpack.dump": "dump-all", "dockpack.volumes": "exclude", "dockpack.dump-ext": "sql"},
				Mounts: []dockerapi.Mount{{Type: "volume", Name: "shop_dbdata", Destination: "/var/lib/db", RW: true}}},
		},
		Volumes: []dockerapi.Volume{{Name: "shop_dbdata"}, {Name: "shop_orphan"}, {Name: "shop_uploads"}},
		Skipped: []dockerapi.Skipped{{Kind: "anonymous", Source: "abc", Destination: "/cache", Container: "shop_app_1"}},
	}
}

func plModel() *consistency.Model {
	return &consistency.Model{Files: []string{"/srv/shop/docker-compose.yml"}, Services: map[string]consistency.ModelService{
		"app": {Name: "app", DependsOn: []string{"db"}, Volumes: []consistency.ModelVolume{{Key: "uploads", Name: "shop_uploads", Target: "/uploads"}},
			Binds: []consistency.ModelBind{{Source: "/srv/shop/app.ini", Target: "/etc/app.ini"}, {Source: "/srv/shop/big", Target: "/big"},
				{Source: "/srv/shop/data", Target: "/data"}}},
		"db":    {Name: "db", Volumes: []consistency.ModelVolume{{Key: "dbdata", Name: "shop_dbdata", Target: "/var/lib/db"}}},
		"index": {Name: "index", Labels: map[string]string{}, Volumes: []consistency.ModelVolume{{Key: "esdata", Name: "shop_esdata", Target: "/es"}}},
		"debug": {Name: "debug", Profiles: []string{"dev"}, Volumes: []consistency.ModelVolume{{Key: "dbg", Name: "shop_dbg", Target: "/d"}}},
	}}
}

func plMeasure(path string, limit int64) consistency.Measured {
	switch path {
	case "/srv/shop/app.ini":
		return consistency.Measured{Type: pack.BindFile, Size: 10}
	case "/srv/shop/big":
		return consistency.Measured{Type: pack.BindDir, Size: limit + 1, Over: limit >= 0}
	case "/var/run/docker.sock":
		return consistency.Measured{Special: true}
	}
	return consistency.Measured{Type: pack.BindDir, Size: 1}
}

func plInput() consistency.Input {
	return consistency.Input{Stack: plStack(), Model: plModel(), VolumesSelected: true, SQLitePath: "/srv/shop/data/auth.db",
		Measure: plMeasure, VolumeExists: func(name string) bool { return name != "shop_esdata" }}
}

func plCodes(fs []consistency.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code+":"+f.Subject)
	}
	return out
}

func TestBuildPlan(t *testing.T) {
	p := consistency.Build(plInput())
	// The index service's volume is in the model, not on the engine: the pack would miss it.
	if got := plCodes(p.Problems); !reflect.DeepEqual(got, []string{"volume_missed:shop_esdata"}) || !strings.Contains(p.Problems[0].Detail, "does not exist on the engine") {
		t.Fatalf("problems %v %+v", got, p.Problems)
	}
	caps := map[string]string{}
	for _, v := range p.Volumes {
		caps[v.Name+"/"+v.Service] = v.Capture + " " + v.Reason
	}
	want := map[string]string{
		"shop_dbdata/db":    "dump the dump dumps/db.sql is the source of truth",
		"shop_uploads/app":  "volume ",
		"shop_orphan/":      "volume ",
		"shop_esdata/index": "volume ",
	}
	if !reflect.DeepEqual(caps, want) {
		t.Fatalf("captures %v", caps)
	}
	if p.Exported("shop_dbdata") || !p.Exported("shop_uploads") || !p.Exported("not-planned") {
		t.Fatal("Exported")
	}
	binds := map[string]string{}
	for _, b := range p.Binds {
		binds[b.Destination] = b.Code + " " + b.File
	}
	wantBinds := map[string]string{"/etc/app.ini": "captured binds/app/etc_app.ini.tar", "/big": "too_large ", "/data": "database ",
		"/var/run/docker.sock": "special ", "/extra": "not_in_model "}
	if !reflect.DeepEqual(binds, wantBinds) {
		t.Fatalf("binds %v", binds)
	}
	app, _ := p.Service("app")
	db, _ := p.Service("db")
	if !app.InModel || len(app.Running) != 1 || !reflect.DeepEqual(app.DependsOn, []string{"db"}) || len(app.Config.Pre) != 1 || !db.Config.HasDump() {
		t.Fatalf("services %+v", p.Services)
	}
	if _, ok := p.Service("debug"); ok {
		t.Fatal("a service of an unused profile is planned")
	}
	if len(p.Profiles) != 0 || p.ComposeFiles[0] != "/srv/shop/docker-compose.yml" {
		t.Fatalf("profiles %v files %v", p.Profiles, p.ComposeFiles)
	}
}

func TestBuildExcludedVolumeOfTheModel(t *testing.T) {
	in := plInput()
	in.Model.Services["index"] = consistency.ModelService{Name: "index", Labels: map[string]string{"dockpack.volumes": "exclude", "dockpack.exclude-reason": "rebuilt from mysql"},
		Volumes: []consistency.ModelVolume{{Key: "esdata", Name: "shop_esdata", Target: "/es"}}}
	p := consistency.Build(in)
	if len(p.Problems) != 0 {
		t.Fatalf("problems %+v", p.Problems)
	}
	if v, _ := p.Volume("shop_esdata"); v.Capture != pack.CaptureExcluded || v.Reason != "rebuilt from mysql" {
		t.Fatalf("esdata %+v", v)
	}
	if got := plCodes(p.Warnings); !reflect.DeepEqual(got, []string{"volume_absent:shop_esdata"}) {
		t.Fatalf("warnings %v", got)
	}
}

func TestBuildStrict(t *testing.T) {
	in := plInput()
	in.Strict = true
	in.Model.Services["index"] = consistency.ModelService{Name: "index", Labels: map[string]string{"dockpack.volumes": "exclude"}}
	p := consistency.Build(in)
	got := plCodes(p.Problems)
	want := []string{"bind_uncaptured:/srv/shop/big", "bind_uncaptured:/srv/shop/extra", "anonymous:shop_app_1:/cache"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("strict problems %v, want %v", got, want)
	}
}

func TestBuildDumpNeedsARunningContainer(t *testing.T) {
	in := plInput()
	in.Stack.Containers[1].Running = false
	in.Stack.Containers[0].Running = false
	p := consistency.Build(in)
	got := plCodes(p.Problems)
	if !reflect.DeepEqual(got, []string{"dump_not_running:db", "volume_missed:shop_esdata"}) {
		t.Fatalf("problems %v", got)
	}
	if got := plCodes(p.Warnings); !reflect.DeepEqual(got, []string{"hook_not_running:app"}) {
		t.Fatalf("warnings %v", got)
	}
}

func TestBuildWithoutModelOrVolumes(t *testing.T) {
	in := plInput()
	in.Model, in.ModelNote = nil, "not readable"
	in.Stack.Containers[0].Labels[consistency.LabelDependsOn] = "db:service_started:false"
	p := consistency.Build(in)
	if len(p.Problems) != 0 || p.ModelNote != "not readable" || !reflect.DeepEqual(p.Graph["app"], []string{"db"}) {
		t.Fatalf("%+v", p)
	}
	for _, b := range p.Binds {
		if b.Captured() {
			t.Errorf("captured without a model: %+v", b)
		}
	}
	in = plInput()
	in.VolumesSelected = false
	in.Stack.Containers[0].Labels["dockpack.hook-on-error"] = "sometimes"
	p = consistency.Build(in)
	if got := plCodes(p.Problems); !reflect.DeepEqual(got, []string{"label_invalid:app"}) {
		t.Fatalf("problems %v", got)
	}
	for _, v := range p.Volumes {
		if v.Capture != pack.CaptureExcluded || !strings.Contains(v.Reason, "not selected") {
			t.Errorf("volume %+v", v)
		}
	}
	if b := p.Binds[0]; b.Code != consistency.BindNotSelected {
		t.Errorf("bind %+v", b)
	}
}
