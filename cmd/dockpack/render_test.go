package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
)

// The golden files pin what show, verify, restore --plan, prune and packs
// print in each language, from fixed inputs: packs built by backuptest at
// fixed times, shown under a fixed path, with a fixed duration.

// shownAs is the path the golden outputs show for the pack in dir.
func shownAs(dir string) string { return "/mnt/backup/" + filepath.Base(dir) }

// goldenPack is backuptest's pack with a skipped mount of each kind.
func goldenPack(t *testing.T) *backuptest.Pack {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	p.Manifest.Host = "app-host-1"
	p.Manifest.Engine = pack.EngineEntry{Version: "20.10.24", APIVersion: "1.41", ImageStore: "overlay2", StorageDriver: "overlay2", OS: "linux", Arch: "amd64"}
	p.Manifest.SQLite.PageCount, p.Manifest.SQLite.PageSize = 2, 4096
	p.Manifest.Skipped = []pack.SkipEntry{
		{Kind: "bind", Source: "/srv/demo/uploads", Destination: "/app/uploads", Container: "demo-app-1",
			Reason: "bind mount: a host directory the engine does not manage; back it up with the host's files"},
		{Kind: "anonymous", Source: "3f9c0e2d", Destination: "/var/cache", Container: "demo-app-1",
			Reason: "anonymous volume: it has no stable name to restore to (compose recreates it empty); give it a name in the compose file to back it up"},
		{Kind: "tmpfs", Source: "tmpfs", Destination: "/run", Container: "demo-app-1", Reason: "tmpfs mount: memory only, nothing persists"},
	}
	backuptest.Rewrite(t, p)
	return p
}

func TestShowGolden(t *testing.T) {
	p := goldenPack(t)
	m, hash, err := pack.ReadManifest(context.Background(), p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range i18n.Supported() {
		var b bytes.Buffer
		printPack(&b, i18n.For(lang), shownAs(p.Dir), m, hash)
		golden(t, "show_"+lang+".golden", b.Bytes())
	}
}

// verifyFixed verifies the pack in dir in lang, with the path and duration fixed.
func verifyFixed(t *testing.T, dir, lang string) *pack.VerifyResult {
	res, err := pack.Verify(context.Background(), dir, pack.VerifyOptions{StagingDir: t.TempDir(), Lang: lang})
	if res == nil {
		t.Fatal(err)
	}
	res.Pack, res.Duration = shownAs(dir), 1234*time.Millisecond
	return res
}

func TestVerifyGolden(t *testing.T) {
	good := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	bad := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	backuptest.MustFlip(t, bad.Path("volumes/demo_data.tar"), 3000)
	os.Truncate(bad.Path("volumes/shared.tar"), 1000)
	for _, lang := range i18n.Supported() {
		var b bytes.Buffer
		printVerify(&b, i18n.For(lang), verifyFixed(t, good.Dir, lang))
		golden(t, "verify_"+lang+".golden", b.Bytes())
		b.Reset()
		printVerify(&b, i18n.For(lang), verifyFixed(t, bad.Dir, lang))
		golden(t, "verify_failed_"+lang+".golden", b.Bytes())
	}
}

func TestRestorePlanGolden(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	for _, lang := range i18n.Supported() {
		eng := backuptest.NewEngine()
		eng.SetImage(p.ImageTag, "sha256:"+backuptest.Hex([]byte("another image")))
		eng.Existing("shared", []byte("shared data"), dockerapi.VolumeUser{ContainerID: "c1", ContainerName: "demo2-app-1", Running: true})
		res, err := restore.Run(context.Background(), p.Dir, restore.Spec{Engine: eng, Project: "demo2", StopRunning: true,
			SQLiteDest: "/nonexistent-dir/auth.db", PlanOnly: true, SkipVerify: true, Lang: lang})
		if err != nil {
			t.Fatal(err)
		}
		res.Plan.Pack = shownAs(p.Dir)
		var b bytes.Buffer
		printRestorePlan(&b, i18n.For(lang), res.Plan)
		golden(t, "restore_plan_"+lang+".golden", b.Bytes())
	}
}

func TestPruneGolden(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	target := t.TempDir()
	for i := 5; i >= 1; i-- {
		backuptest.MustSmallPack(t, target, "demo", now.Add(-time.Duration(i)*24*time.Hour))
	}
	backuptest.MustPartial(t, target, now.Add(-72*time.Hour))
	o := prune.Options{Target: target, Project: "demo", Keep: 2, MaxAge: 96 * time.Hour, PartialOlderThan: 24 * time.Hour,
		DryRun: true, Now: func() time.Time { return now }}
	for _, lang := range i18n.Supported() {
		o.Lang = lang
		res, err := prune.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		res.Newest.Pack = shownAs(res.Newest.Pack)
		var b bytes.Buffer
		printPrune(&b, i18n.For(lang), true, res)
		golden(t, "prune_dry_run_"+lang+".golden", b.Bytes())
	}
}

func TestPacksGolden(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	packs := []pack.Info{
		{Name: ".partial-migration_pack_20260304_050607_000", Status: pack.StatusPartial, CreatedAt: created, Size: 5 << 20, Age: 3 * time.Hour},
		{Name: "migration_pack_20260303_050607_000", Status: pack.StatusComplete, Project: "demo", CreatedAt: created.Add(-24 * time.Hour),
			Size: 300 << 20, Contents: pack.AllComponents, Age: 27 * time.Hour},
		{Name: "migration_pack_20260101_000000_000", Status: pack.StatusInvalid, Problem: "invalid pack manifest: manifest.json is not valid JSON"},
	}
	for _, lang := range i18n.Supported() {
		var b bytes.Buffer
		printPacks(&b, i18n.For(lang), packs)
		printPacks(&b, i18n.For(lang), nil)
		golden(t, "packs_"+lang+".golden", b.Bytes())
	}
}

// The commands pass --lang to the library and render in it; codes and
// exit codes stay the same.
func TestPackCommandsSpeakTheLanguage(t *testing.T) {
	run := func(args ...string) (string, int) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"--log-level", "error"}, args...))
		err := root.Execute()
		return out.String(), exitCode(err)
	}
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	target := filepath.Dir(p.Dir)
	for _, tc := range []struct {
		args []string
		en   string
		zh   string
		code int
	}{
		{[]string{"show", p.Dir}, "package hash", "包哈希", exitOK},
		{[]string{"verify", "--staging-dir", t.TempDir(), p.Dir}, "GOOD", "完整校验通过", exitOK},
		{[]string{"packs", "--target", target}, "complete", "完整", exitOK},
		{[]string{"prune", "--target", target, "--project", "demo", "--keep", "1", "--dry-run"}, "nothing to delete", "没有需要删除的备份包", exitOK},
		{[]string{"restore", "--plan", "--components", "db", "--sqlite-dest", "/nonexistent-dir/x.db", "--no-verify", p.Dir},
			"REFUSED: database: the directory", "拒绝：数据库：", exitPrecheck},
	} {
		out, code := run(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.en) {
			t.Errorf("%v: exit %d, want %d and %q:\n%s", tc.args, code, tc.code, tc.en, out)
		}
		out, code = run(append([]string{"--lang", "zh-CN"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.zh) {
			t.Errorf("--lang zh-CN %v: exit %d, want %d and %q:\n%s", tc.args, code, tc.code, tc.zh, out)
		}
	}
	backuptest.MustFlip(t, p.Path("volumes/shared.tar"), 100)
	if out, code := run("--lang", "zh-CN", "verify", "--json", "--staging-dir", t.TempDir(), p.Dir); code != exitVerify ||
		!strings.Contains(out, `"code": "sha256_mismatch"`) || !strings.Contains(out, "内容与写入时不同") {
		t.Errorf("verify --json of a damaged pack: exit %d:\n%s", code, out)
	}
}
