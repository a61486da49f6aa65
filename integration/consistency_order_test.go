//go:build integration

package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
)

const csOrderCompose = `version: "2.4"
services:
  db:
    image: IMAGE
    command: ["db", "/data"]
    network_mode: none
    volumes:
      - dbdata:/data
    labels:
TESTLABELS
  app:
    image: IMAGE
    command: ["sleep"]
    network_mode: none
    depends_on: [db]
    labels:
TESTLABELS
volumes:
  dbdata:
    labels:
TESTLABELS
`

// TestConsistencyStopOrder: with app depending on db (compose v1 writes no
// depends_on label: it comes from the compose file), --stop-app db stops
// app before db and starts it after db, by the engine's event times; --stop
// db alone (no dependents) is ordered the same way when both are named.
func TestConsistencyStopOrder(t *testing.T) {
	s := csNewStack(t, csOrderCompose)
	app, db := s.id("app"), s.id("db")
	for _, tc := range []struct {
		name string
		set  func(*backup.Spec)
	}{
		{"stop-app", func(sp *backup.Spec) { sp.StopApps = []string{"db"} }},
		{"stop both by name", func(sp *backup.Spec) { sp.StopServices = []string{"db", "app"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := s.spec(32 << 20)
			tc.set(&spec)
			since := time.Now()
			res, err := backup.Run(MustCtx(t), spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			var seq []string
			at := map[string]time.Time{}
			for _, e := range csEvents(t, s.cli, since, app, db) {
				svc := strings.TrimSuffix(strings.TrimPrefix(e.name, s.project+"_"), "_1")
				seq = append(seq, e.action+" "+svc)
				at[e.action+" "+svc] = e.at
			}
			if strings.Join(seq, ", ") != "die app, die db, start db, start app" {
				t.Fatalf("events %v", seq)
			}
			if !at["die app"].Before(at["die db"]) || !at["start db"].Before(at["start app"]) {
				t.Fatalf("event times %v", at)
			}
			if got := strings.Join(res.Manifest.Consistency.StopOrder, ","); got != s.project+"_app_1,"+s.project+"_db_1" {
				t.Fatalf("manifest stop order %s", got)
			}
			if dep := csService(t, res.Manifest, "app").DependsOn; len(dep) != 1 || dep[0] != "db" {
				t.Fatalf("app depends on %v", dep)
			}
			t.Logf("%s: down %v (app), %v (db)", tc.name, at["start app"].Sub(at["die app"]).Round(time.Millisecond), at["start db"].Sub(at["die db"]).Round(time.Millisecond))
		})
	}
}
