package main

import (
	"bytes"
	"testing"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/i18n"
)

// csGolden is the consistency section of a RAGFlow-like pack: mysql dumped
// with its volume covered, es01 stopped (with ragflow, its dependent),
// an index volume excluded, hooks that ran, one failed and continued, and
// a captured config file.
var csGolden = &pack.Consistency{
	ComposeFiles: []string{"/srv/ragflow/docker-compose.yml"},
	Profiles:     []string{"elasticsearch"},
	StopOrder:    []string{"ragflow-server", "es01"},
	Services: []pack.ServiceEntry{
		{Name: "ragflow", Stopped: true, Volumes: []pack.ServiceVolume{},
			Hooks: []pack.HookRun{
				{Phase: pack.PhasePreBackup, Status: pack.HookOK, ExitCode: 0, DurationMS: 40},
				{Phase: pack.PhasePostBackup, Status: pack.HookIgnored, ExitCode: 2, DurationMS: 12},
			}},
		{Name: "es01", Stopped: true, Volumes: []pack.ServiceVolume{{Name: "ragflow_esdata01", Capture: pack.CaptureVolume, File: "volumes/ragflow_esdata01.tar"}}},
		{Name: "mysql", Preset: "mysql",
			Volumes: []pack.ServiceVolume{{Name: "ragflow_mysql_data", Capture: pack.CaptureDump, File: "dumps/mysql.sql"}},
			Dump:    &pack.DumpEntry{File: "dumps/mysql.sql", Size: 3 << 20, DurationMS: 2140}},
		{Name: "infinity", Volumes: []pack.ServiceVolume{{Name: "ragflow_infinity_data", Capture: pack.CaptureExcluded, Reason: "rebuilt from the database"}},
			Hooks: []pack.HookRun{{Phase: pack.PhasePreBackup, Status: pack.HookTimedOut, ExitCode: -1, DurationMS: 60000}}},
	},
	Binds: []pack.BindEntry{{Service: "nginx", Container: "ragflow-nginx", Source: "/srv/ragflow/nginx/nginx.conf", Destination: "/etc/nginx/nginx.conf",
		Type: pack.BindFile, Size: 1234, File: "binds/nginx/etc_nginx_nginx.conf.tar"}},
}

func TestShowConsistencyGolden(t *testing.T) {
	for _, lang := range i18n.Supported() {
		var b bytes.Buffer
		printConsistency(&b, i18n.For(lang), csGolden)
		golden(t, "show_consistency_"+lang+".golden", b.Bytes())
	}
	var b bytes.Buffer
	printConsistency(&b, i18n.For(i18n.English), nil)
	printConsistency(&b, i18n.For(i18n.English), &pack.Consistency{})
	if b.Len() != 0 {
		t.Errorf("no section, yet printed %q", b.String())
	}
}
