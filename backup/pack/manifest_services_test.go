package pack_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
)

// csPack is backuptest's pack plus a dump of service db and a captured
// bind of service app, described in the consistency section.
func csPack(t *testing.T, dump []byte) *backuptest.Pack {
	t.Helper()
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	p.Files["dumps/db.sql"] = dump
	p.Files["binds/app/etc_app.conf.tar"] = backuptest.MustTar(t, backuptest.Entry{Name: "app.conf", Body: "listen 80\n"})
	p.Manifest.Consistency = &pack.Consistency{
		ComposeFiles: []string{"/srv/demo/docker-compose.yml"}, Profiles: []string{}, StopOrder: []string{},
		Services: []pack.ServiceEntry{
			{Name: "app", Containers: []string{"demo_app_1"}, Volumes: []pack.ServiceVolume{}, Hooks: []pack.HookRun{
				{Phase: pack.PhasePreBackup, Container: "demo_app_1", Command: []string{"sync"}, OnError: "fail", Status: pack.HookOK}}},
			{Name: "db", Containers: []string{"demo_db_1"}, Hooks: []pack.HookRun{},
				Volumes: []pack.ServiceVolume{{Name: "demo_dbdata", Key: "dbdata", Capture: pack.CaptureDump, File: "dumps/db.sql"}},
				Dump:    &pack.DumpEntry{File: "dumps/db.sql", Container: "demo_db_1", Command: []string{"dump"}, Size: int64(len(dump))}},
		},
		Binds: []pack.BindEntry{{Service: "app", Container: "demo_app_1", Source: "/srv/demo/app.conf", Destination: "/etc/app.conf",
			Type: pack.BindFile, Size: 10, File: "binds/app/etc_app.conf.tar"}},
	}
	csRewrite(t, p)
	return p
}

// csRewrite writes manifest.json and SHA256SUMS for every file of p.Files.
func csRewrite(t *testing.T, p *backuptest.Pack) {
	t.Helper()
	backuptest.Rewrite(t, p)
	for _, rel := range []string{"dumps/db.sql", "binds/app/etc_app.conf.tar"} {
		b := p.Files[rel]
		kind := pack.FileDump
		if strings.HasPrefix(rel, "binds/") {
			kind = pack.FileBind
		}
		if err := os.MkdirAll(filepath.Dir(p.Path(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p.Path(rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
		p.Manifest.Files = append(p.Manifest.Files, pack.FileEntry{Path: rel, Kind: kind, Size: int64(len(b)), SHA256: backuptest.Hex(b)})
	}
	slices.SortFunc(p.Manifest.Files, func(a, b pack.FileEntry) int { return strings.Compare(a.Path, b.Path) })
	data, err := pack.MarshalManifest(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Path(pack.ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p.Hash = backuptest.Hex(data)
	var sums []pack.Sum
	for _, f := range p.Manifest.Files {
		sums = append(sums, pack.Sum{SHA256: f.SHA256, Path: f.Path})
	}
	sums = append(sums, pack.Sum{SHA256: p.Hash, Path: pack.ManifestFile})
	if err := os.WriteFile(p.Path(pack.SumsFile), pack.FormatSums(sums), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDumpsAndBinds(t *testing.T) {
	p := csPack(t, []byte("CREATE TABLE t(x);\n"))
	for _, structural := range []bool{false, true} {
		res, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{StagingDir: t.TempDir(), Structural: structural})
		if err != nil || !res.OK {
			t.Fatalf("structural=%v: %+v %v", structural, res, err)
		}
		names := map[string]bool{}
		for _, c := range res.Checks {
			names[c.Name] = c.OK()
		}
		if !names["dump:db"] || !names["bind:app/etc_app.conf"] {
			t.Fatalf("structural=%v: checks %+v", structural, res.Checks)
		}
	}
	// A flipped byte in the bind's tar, and a dump changed after the pack was written.
	backuptest.MustFlip(t, p.Path("binds/app/etc_app.conf.tar"), 600)
	backuptest.MustFlip(t, p.Path("dumps/db.sql"), 0)
	res, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{StagingDir: t.TempDir()})
	if !errors.Is(err, pack.ErrVerify) {
		t.Fatalf("verify of damaged files: %v", err)
	}
	failed := rsFailed(res)
	if failed["dumps/db.sql"].Code != pack.CodeSHA256Mismatch || failed["binds/app/etc_app.conf.tar"].Code != pack.CodeSHA256Mismatch {
		t.Fatalf("failed: %+v", failed)
	}
}

func TestVerifyEmptyDumpFails(t *testing.T) {
	p := csPack(t, []byte{})
	for _, structural := range []bool{false, true} {
		res, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{StagingDir: t.TempDir(), Structural: structural})
		if !errors.Is(err, pack.ErrVerify) || rsFailed(res)["dumps/db.sql"].Code != pack.CodeStructure {
			t.Fatalf("structural=%v: %v %+v", structural, err, res)
		}
	}
}

func TestConsistencySectionValidation(t *testing.T) {
	p := csPack(t, []byte("x"))
	good := *p.Manifest
	for name, mutate := range map[string]func(m *pack.Manifest){
		"dump not listed": func(m *pack.Manifest) {
			m.Files = slices.DeleteFunc(slices.Clone(m.Files), func(f pack.FileEntry) bool { return f.Kind == pack.FileDump })
		},
		"bind file not described": func(m *pack.Manifest) {
			c := *m.Consistency
			c.Binds = nil
			m.Consistency = &c
		},
		"excluded without reason": func(m *pack.Manifest) {
			c := *m.Consistency
			c.Services = slices.Clone(c.Services)
			c.Services[1].Volumes = []pack.ServiceVolume{{Name: "v", Capture: pack.CaptureExcluded}}
			m.Consistency = &c
		},
		"dump file of wrong kind": func(m *pack.Manifest) {
			c := *m.Consistency
			c.Services = slices.Clone(c.Services)
			d := *c.Services[1].Dump
			d.File = "volumes/demo_data.tar"
			c.Services[1].Dump = &d
			m.Consistency = &c
		},
	} {
		m := good
		mutate(&m)
		if err := m.Validate(); !errors.Is(err, pack.ErrManifest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if d, ok := good.Consistency.Dump("db"); !ok || d.File != "dumps/db.sql" {
		t.Fatalf("Dump(db) = %+v %v", d, ok)
	}
}
