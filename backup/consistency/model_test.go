package consistency_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/consistency"
)

func TestStopOrderDependentsFirst(t *testing.T) {
	// ragflow → mysql, es01, minio, redis; nginx → ragflow; es01 alone.
	g := consistency.Graph{"ragflow": {"es01", "minio", "mysql", "redis"}, "nginx": {"ragflow"}, "mysql": nil}
	if got := g.StopOrder([]string{"mysql", "ragflow", "nginx", "es01"}); !reflect.DeepEqual(got, []string{"nginx", "ragflow", "es01", "mysql"}) {
		t.Fatalf("order %v", got)
	}
	if got := g.Dependents("mysql"); !reflect.DeepEqual(got, []string{"nginx", "ragflow"}) {
		t.Fatalf("dependents of mysql %v", got)
	}
	if got := g.Dependents("nginx"); len(got) != 0 {
		t.Fatalf("dependents of nginx %v", got)
	}
	// Through a service that is not stopped: a → b → c orders a before c.
	g = consistency.Graph{"a": {"b"}, "b": {"c"}}
	if got := g.StopOrder([]string{"c", "a"}); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Fatalf("transitive %v", got)
	}
	// A cycle is broken by name, nothing lost.
	g = consistency.Graph{"x": {"y"}, "y": {"x"}}
	if got := g.StopOrder([]string{"y", "x", "x"}); !reflect.DeepEqual(got, []string{"x", "y"}) {
		t.Fatalf("cycle %v", got)
	}
	if got := consistency.ParseDependsOnLabel("db:service_started:false, cache:service_healthy:true,db:x:y"); !reflect.DeepEqual(got, []string{"cache", "db"}) {
		t.Fatalf("label %v", got)
	}
}

const mdCompose = `version: "3.8"
services:
  app:
    image: app:1
    depends_on: [db, cache]
    labels:
      dockpack.pre-backup: "/testapp say pre"
    volumes:
      - uploads:/uploads
      - ./conf/app.ini:/etc/app.ini:ro
      - ${DATA_DIR:?set DATA_DIR}:/data
      - /cache
  db:
    image: db:1
    volumes:
      - dbdata:/var/lib/db
  cache:
    image: cache:1
    volumes:
      - type: volume
        source: shared
        target: /shared
  tools:
    image: tools:1
    profiles: ["debug"]
    volumes:
      - toolsdata:/t
volumes:
  uploads:
  dbdata:
    name: custom-dbdata
  shared:
    external: true
    name: ${SHARED_NAME:-the-shared}
  toolsdata:
`

func TestLoadModel(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(f, []byte(mdCompose), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("SHARED_NAME=from-dotenv\n"), 0o644)
	m, err := consistency.LoadModel(context.Background(), consistency.ModelOptions{Project: "shop", Files: []string{f}, Environ: []string{"HOME=/root"}})
	if err != nil {
		t.Fatal(err)
	}
	app := m.Services["app"]
	if !reflect.DeepEqual(app.DependsOn, []string{"cache", "db"}) || app.Labels["dockpack.pre-backup"] != "/testapp say pre" {
		t.Fatalf("app %+v", app)
	}
	if len(app.Volumes) != 1 || app.Volumes[0] != (consistency.ModelVolume{Key: "uploads", Name: "shop_uploads", Target: "/uploads"}) {
		t.Fatalf("app volumes %+v", app.Volumes)
	}
	if len(app.Binds) != 2 || app.Binds[0].Source != filepath.Join(dir, "conf/app.ini") || !app.Binds[0].ReadOnly ||
		!consistency.Placeholder(app.Binds[1].Source) || app.Binds[1].Target != "/data" {
		t.Fatalf("app binds %+v", app.Binds)
	}
	if v := m.Services["db"].Volumes[0]; v.Name != "custom-dbdata" || v.External {
		t.Fatalf("db volume %+v", v)
	}
	if v := m.Services["cache"].Volumes[0]; v.Name != "from-dotenv" || !v.External {
		t.Fatalf("cache volume %+v", v)
	}
	if !reflect.DeepEqual(m.Unset, []string{"DATA_DIR"}) {
		t.Fatalf("unset %v", m.Unset)
	}
	// The environment wins over .env.
	m2, err := consistency.LoadModel(context.Background(), consistency.ModelOptions{Project: "shop", Files: []string{f}, Environ: []string{"SHARED_NAME=env", "DATA_DIR=/srv"}})
	if err != nil || m2.Services["cache"].Volumes[0].Name != "env" || len(m2.Unset) != 0 || m2.Services["app"].Binds[1].Source != "/srv" {
		t.Fatalf("env: %+v %v", m2, err)
	}
	// Profiles: tools is active only when a service with its profile has containers.
	active, profiles := m.ActiveServices([]string{"app", "db"})
	if !reflect.DeepEqual(active, []string{"app", "cache", "db"}) || len(profiles) != 0 {
		t.Fatalf("active %v profiles %v", active, profiles)
	}
	active, profiles = m.ActiveServices([]string{"app", "tools"})
	if !reflect.DeepEqual(active, []string{"app", "cache", "db", "tools"}) || !reflect.DeepEqual(profiles, []string{"debug"}) {
		t.Fatalf("active %v profiles %v", active, profiles)
	}
	if g := m.Graph(); !reflect.DeepEqual(g.Dependents("db"), []string{"app"}) {
		t.Fatalf("graph %v", g)
	}
}

func TestLoadModelErrors(t *testing.T) {
	if _, err := consistency.LoadModel(context.Background(), consistency.ModelOptions{Project: "p"}); err == nil {
		t.Fatal("no files accepted")
	}
	_, err := consistency.LoadModel(context.Background(), consistency.ModelOptions{Project: "p", Files: []string{"/nonexistent/docker-compose.yml"}})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	f := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(f, []byte("services:\n  app:\n    image: [1, 2\n"), 0o644)
	if _, err := consistency.LoadModel(context.Background(), consistency.ModelOptions{Project: "p", Files: []string{f}}); err == nil {
		t.Fatal("broken YAML accepted")
	}
}
