package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// Helpers of the verify, restore and drill tests (prefix rs).

// rsEntry is one entry of a test tar.
type rsEntry struct {
	name     string
	body     string
	typ      byte
	link     string
	mode     int64
	uid, gid int
}

// MustRsTar builds a tar (with its end marker) like a volume export: "./"
// first, entries relative to the volume root.
func MustRsTar(t testing.TB, entries ...rsEntry) []byte {
	t.Helper()
	tes := make([]dockertest.TarEntry, len(entries))
	for i, e := range entries {
		tes[i] = dockertest.TarEntry{Name: e.name, Type: e.typ, Body: []byte(e.body), Mode: e.mode, UID: e.uid, GID: e.gid, Linkname: e.link}
	}
	return dockertest.MustTar(t, tes...)
}

func rsHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// MustRsImageArchive builds a small image archive in docker save's legacy
// layout; it returns the archive and the image's config digest.
func MustRsImageArchive(t testing.TB, tag string) ([]byte, string) {
	t.Helper()
	layer := MustRsTar(t, rsEntry{name: "app.txt", body: strings.Repeat("app\n", 300)})
	cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}`, rsHex(layer))
	cfgHex := rsHex([]byte(cfg))
	v1 := rsHex(append([]byte("v1"), layer...))
	manifest := fmt.Sprintf(`[{"Config":"%s.json","RepoTags":[%q],"Layers":["%s/layer.tar"]}]`, cfgHex, tag, v1)
	archive := MustRsTar(t,
		rsEntry{name: v1 + "/"},
		rsEntry{name: v1 + "/VERSION", body: "1.0"},
		rsEntry{name: v1 + "/layer.tar", body: string(layer)},
		rsEntry{name: cfgHex + ".json", body: cfg},
		rsEntry{name: "manifest.json", body: manifest},
	)
	return archive, "sha256:" + cfgHex
}

// MustRsDB creates a small rollback-journal SQLite database (a snapshot is
// self-contained) and returns its bytes.
func MustRsDB(t testing.TB, rows ...string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.db")
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);`, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := sqlitex.Execute(conn, `INSERT INTO users(name) VALUES (?)`, &sqlitex.ExecOptions{Args: []any{r}}); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rsPack is a pack written by MustRsPack.
type rsPack struct {
	Dir      string
	Manifest *backup.Manifest
	Hash     string
	ImageTag string
	Digest   string
	Files    map[string][]byte // pack path → content
}

// Path is the absolute path of a pack file.
func (p *rsPack) Path(rel string) string { return filepath.Join(p.Dir, filepath.FromSlash(rel)) }

// rsDataTar is the content of the test pack's data volume.
func rsDataTar(t testing.TB) []byte {
	return MustRsTar(t,
		rsEntry{name: "./"},
		rsEntry{name: "conf/", mode: 0o750, uid: 1000, gid: 1000},
		rsEntry{name: "conf/app.ini", body: "[app]\nname=demo\n", mode: 0o640, uid: 1000, gid: 1000},
		rsEntry{name: "blob.bin", body: strings.Repeat("0123456789abcdef", 4096)},
		rsEntry{name: "link", typ: tar.TypeSymlink, link: "conf/app.ini"},
		rsEntry{name: "hard", typ: tar.TypeLink, link: "blob.bin"},
		rsEntry{name: "empty/"},
	)
}

// MustRsPack writes a complete, valid pack of project "demo" into target:
// auth.db, volumes demo_data (compose labels) and shared (external),
// images.tar with demo/app:1, a compose file; manifest.json and SHA256SUMS.
func MustRsPack(t testing.TB, target string, created time.Time) *rsPack {
	t.Helper()
	ts := strings.Replace(created.UTC().Format(backup.PackTimeLayout), ".", "_", 1)
	p := &rsPack{Dir: filepath.Join(target, backup.PackPrefix+ts), ImageTag: "demo/app:1", Files: map[string][]byte{}}
	img, digest := MustRsImageArchive(t, p.ImageTag)
	p.Digest = digest
	p.Files["auth.db"] = MustRsDB(t, "ada", "grace")
	p.Files["volumes/demo_data.tar"] = rsDataTar(t)
	p.Files["volumes/shared.tar"] = MustRsTar(t, rsEntry{name: "./"}, rsEntry{name: "shared.txt", body: "shared\n"})
	p.Files["images.tar"] = img
	p.Files["compose/docker-compose.yml"] = []byte("services:\n  app:\n    image: demo/app:1\n")
	m := &backup.Manifest{
		FormatVersion: backup.FormatVersion, Tool: backup.ToolInfo{Name: "dockpack", Version: "test"}, CreatedAt: created.UTC(),
		Project: "demo", Contents: []backup.Component{backup.ComponentDB, backup.ComponentVolumes, backup.ComponentImages},
		Images: []backup.ImageEntry{{ID: digest, ConfigDigest: digest, RepoTags: []string{p.ImageTag}, RepoDigests: []string{}, Size: 4096}},
		Volumes: []backup.VolumeEntry{
			{Name: "demo_data", Driver: "local", Options: map[string]string{},
				Labels: map[string]string{"com.docker.compose.project": "demo", "com.docker.compose.volume": "data", "com.docker.compose.config-hash": "abc"},
				Size:   int64(len("[app]\nname=demo\n") + 16*4096), File: "volumes/demo_data.tar"},
			{Name: "shared", Driver: "local", Options: map[string]string{}, Labels: map[string]string{}, External: true, Size: 7, File: "volumes/shared.tar"},
		},
		SQLite:  &backup.SQLiteEntry{Source: "/srv/demo/auth.db", File: "auth.db", SQLiteVersion: "3.51.0", JournalMode: "delete", Check: "ok"},
		Skipped: []backup.SkipEntry{},
	}
	p.Manifest = m
	for rel, b := range p.Files {
		if err := os.MkdirAll(filepath.Dir(p.Path(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p.Path(rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rsRewrite(t, p)
	return p
}

// rsRewrite recomputes the manifest's file list from p.Files and writes
// manifest.json and SHA256SUMS (a pack consistent with whatever the files
// now hold).
func rsRewrite(t testing.TB, p *rsPack) {
	t.Helper()
	kinds := map[string]string{"auth.db": backup.KindSQLite, "images.tar": backup.KindImages}
	p.Manifest.Files = nil
	var sums []backup.Sum
	for _, rel := range []string{"auth.db", "compose/docker-compose.yml", "images.tar", "volumes/demo_data.tar", "volumes/shared.tar"} {
		b, ok := p.Files[rel]
		if !ok {
			continue
		}
		k := kinds[rel]
		switch {
		case strings.HasPrefix(rel, "volumes/"):
			k = backup.KindVolume
		case strings.HasPrefix(rel, "compose/"):
			k = backup.KindCompose
		}
		p.Manifest.Files = append(p.Manifest.Files, backup.FileEntry{Path: rel, Kind: k, Size: int64(len(b)), SHA256: rsHex(b)})
		sums = append(sums, backup.Sum{SHA256: rsHex(b), Path: rel})
	}
	data, err := backup.MarshalManifest(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Path(backup.ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p.Hash = rsHex(data)
	sums = append(sums, backup.Sum{SHA256: p.Hash, Path: backup.ManifestFile})
	if err := os.WriteFile(p.Path(backup.SumsFile), backup.FormatSums(sums), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MustRsFlip flips one byte of a pack file at offset off (negative: from the end).
func MustRsFlip(t testing.TB, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rsFailed returns the failed checks keyed by path (or name).
func rsFailed(r *backup.VerifyResult) map[string]backup.ComponentCheck {
	out := map[string]backup.ComponentCheck{}
	for _, c := range r.Failed() {
		k := c.Path
		if k == "" {
			k = c.Name
		}
		out[k] = c
	}
	return out
}

var rsCreated = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestVerifyGoodPack(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	var last backup.Progress
	var backwards bool
	res, err := backup.Verify(context.Background(), p.Dir, backup.VerifyOptions{StagingDir: t.TempDir(), ProgressInterval: time.Nanosecond,
		Progress: func(pr backup.Progress) {
			if pr.Percent < last.Percent {
				backwards = true
			}
			last = pr
		}})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.OK || res.PackageHash != p.Hash || res.Manifest.Project != "demo" || res.Structural {
		t.Fatalf("result %+v", res)
	}
	if res.Bytes < p.Manifest.PackSize() {
		t.Errorf("read %d bytes, the pack holds %d", res.Bytes, p.Manifest.PackSize())
	}
	names := map[string]bool{}
	for _, c := range res.Checks {
		names[c.Name] = c.OK
	}
	for _, want := range []string{"manifest", "sha256sums", "sqlite", "volume:demo_data", "volume:shared", "images", "compose:docker-compose.yml"} {
		if ok, seen := names[want]; !seen || !ok {
			t.Errorf("check %s: seen %v ok %v (all: %+v)", want, seen, ok, res.Checks)
		}
	}
	if backwards || last.Percent != 100 || last.Step != backup.StepVerify {
		t.Errorf("progress backwards=%v last=%+v", backwards, last)
	}
	// Staging is cleaned.
	sres, err := backup.Verify(context.Background(), p.Dir, backup.VerifyOptions{Structural: true})
	if err != nil || !sres.OK || !sres.Structural {
		t.Fatalf("structural: %+v %v", sres, err)
	}
}

func TestVerifyStagingIsLocalAndRemoved(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	staging := t.TempDir()
	if _, err := backup.Verify(context.Background(), p.Dir, backup.VerifyOptions{StagingDir: staging}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(staging); len(ents) != 0 {
		t.Fatalf("staging not cleaned: %v", ents)
	}
	if ents, _ := os.ReadDir(p.Dir); len(ents) != 6 {
		t.Fatalf("verify wrote into the pack: %v", ents)
	}
}

func TestVerifyDetectsDamage(t *testing.T) {
	cases := []struct {
		name       string
		damage     func(t *testing.T, p *rsPack)
		file       string // the failing check's path
		expected   string // substring of Expected
		actual     string // substring of Actual
		detail     string // substring of Detail
		structural bool   // the structural check sees it too
	}{
		{name: "byte flipped in a volume tar's data", file: "volumes/demo_data.tar", expected: "sha256 ", actual: "sha256 ",
			damage: func(t *testing.T, p *rsPack) { MustRsFlip(t, p.Path("volumes/demo_data.tar"), 3000) }},
		{name: "volume tar truncated", file: "volumes/demo_data.tar", expected: "size ", actual: "size ", structural: true,
			damage: func(t *testing.T, p *rsPack) {
				os.Truncate(p.Path("volumes/demo_data.tar"), int64(len(p.Files["volumes/demo_data.tar"]))-1024)
			}},
		{name: "volume tar missing", file: "volumes/shared.tar", expected: "present", actual: "missing", structural: true,
			damage: func(t *testing.T, p *rsPack) { os.Remove(p.Path("volumes/shared.tar")) }},
		{name: "tar header damaged, manifest rewritten to match", file: "volumes/demo_data.tar", detail: "invalid tar header", structural: true,
			damage: func(t *testing.T, p *rsPack) {
				b := p.Files["volumes/demo_data.tar"]
				b[512+100] ^= 0x01 // the second header's mode field
				os.WriteFile(p.Path("volumes/demo_data.tar"), b, 0o644)
				rsRewrite(t, p)
			}},
		{name: "images.tar lacks the manifest's image", file: "images.tar", detail: "not in images.tar",
			damage: func(t *testing.T, p *rsPack) {
				other, _ := MustRsImageArchive(t, "other/app:2")
				p.Files["images.tar"] = other
				os.WriteFile(p.Path("images.tar"), other, 0o644)
				rsRewrite(t, p)
			}},
		{name: "sqlite snapshot corrupt, manifest rewritten to match", file: "auth.db", detail: "auth.db",
			damage: func(t *testing.T, p *rsPack) {
				b := p.Files["auth.db"]
				for i := 100; i < len(b); i++ {
					b[i] = 0xee
				}
				os.WriteFile(p.Path("auth.db"), b, 0o644)
				rsRewrite(t, p)
			}},
		{name: "manifest edited", file: backup.SumsFile, expected: "sha256 ", actual: "sha256 ", structural: true,
			damage: func(t *testing.T, p *rsPack) {
				b, _ := os.ReadFile(p.Path(backup.ManifestFile))
				os.WriteFile(p.Path(backup.ManifestFile), bytes.Replace(b, []byte(`"dockpack"`), []byte(`"dockpak"`), 1), 0o644)
			}},
		{name: "SHA256SUMS missing", file: backup.SumsFile, expected: "present", actual: "missing", structural: true,
			damage: func(t *testing.T, p *rsPack) { os.Remove(p.Path(backup.SumsFile)) }},
		{name: "manifest not JSON", file: backup.ManifestFile, detail: "not valid JSON", structural: true,
			damage: func(t *testing.T, p *rsPack) { os.WriteFile(p.Path(backup.ManifestFile), []byte("{"), 0o644) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := MustRsPack(t, t.TempDir(), rsCreated)
			tc.damage(t, p)
			for _, structural := range []bool{false, true} {
				res, err := backup.Verify(context.Background(), p.Dir, backup.VerifyOptions{Structural: structural, StagingDir: t.TempDir()})
				if structural && !tc.structural {
					continue
				}
				var ve *backup.VerifyError
				if !errors.Is(err, backup.ErrVerify) || !errors.As(err, &ve) || res == nil || res.OK {
					t.Fatalf("structural=%v: err = %v, want a VerifyError", structural, err)
				}
				c, ok := rsFailed(res)[tc.file]
				if !ok {
					t.Fatalf("structural=%v: %s not among the failed checks: %v", structural, tc.file, err)
				}
				if !strings.Contains(c.Expected, tc.expected) || !strings.Contains(c.Actual, tc.actual) || !strings.Contains(c.Detail, tc.detail) {
					t.Errorf("structural=%v: check %+v, want expected~%q actual~%q detail~%q", structural, c, tc.expected, tc.actual, tc.detail)
				}
				if !strings.Contains(err.Error(), tc.file) || (c.Expected != "" && !strings.Contains(err.Error(), c.Expected)) {
					t.Errorf("the error does not name %s with expected/actual: %v", tc.file, err)
				}
			}
		})
	}
}

func TestVerifyStructuralSkipsData(t *testing.T) {
	// A flipped data byte keeps sizes and headers intact: only the full check sees it.
	p := MustRsPack(t, t.TempDir(), rsCreated)
	MustRsFlip(t, p.Path("volumes/demo_data.tar"), 3000)
	if _, err := backup.Verify(context.Background(), p.Dir, backup.VerifyOptions{Structural: true}); err != nil {
		t.Fatalf("structural check read the data: %v", err)
	}
	if _, err := backup.Verify(context.Background(), p.Dir, backup.VerifyOptions{}); !errors.Is(err, backup.ErrVerify) {
		t.Fatalf("full check missed the flip: %v", err)
	}
}

func TestVerifyMissingPack(t *testing.T) {
	res, err := backup.Verify(context.Background(), filepath.Join(t.TempDir(), "nope"), backup.VerifyOptions{})
	if !errors.Is(err, backup.ErrVerify) || res.Failed()[0].Kind != backup.KindPack {
		t.Fatalf("err %v, result %+v", err, res)
	}
}

func TestVerifyCanceled(t *testing.T) {
	p := MustRsPack(t, t.TempDir(), rsCreated)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := backup.Verify(ctx, p.Dir, backup.VerifyOptions{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, backup.ErrVerify) {
		t.Fatalf("err = %v, want canceled (no verdict)", err)
	}
}

func TestVerifyOptionsValidate(t *testing.T) {
	if _, err := backup.Verify(context.Background(), t.TempDir(), backup.VerifyOptions{SQLiteCheck: 7}); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Fatalf("err = %v", err)
	}
}

func TestPruneRefusesWhenNewestFailsVerification(t *testing.T) {
	target := t.TempDir()
	old := MustRsPack(t, target, pruneNow.Add(-3*time.Hour))
	mid := MustRsPack(t, target, pruneNow.Add(-2*time.Hour))
	newest := MustRsPack(t, target, pruneNow.Add(-1*time.Hour))
	os.Truncate(newest.Path("volumes/demo_data.tar"), 100)
	now := func() time.Time { return pruneNow }
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, Now: now})
	if !errors.Is(err, backup.ErrPruneRefused) || !errors.Is(err, backup.ErrVerify) || !res.Refused || len(res.Deleted) != 0 || len(res.Blocked) != 2 {
		t.Fatalf("prune: %+v, %v", res, err)
	}
	if !strings.Contains(err.Error(), "volumes/demo_data.tar") {
		t.Errorf("the refusal does not name the failing file: %v", err)
	}
	for _, p := range []*rsPack{old, mid, newest} {
		if !mgrExists(p.Dir) {
			t.Fatalf("%s deleted although the prune was refused", p.Dir)
		}
	}
	// Forced: the two older go, the newest (broken) stays.
	res, err = backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, Force: true, Now: now})
	if err != nil || len(res.Deleted) != 2 || mgrExists(old.Dir) || mgrExists(mid.Dir) || !mgrExists(newest.Dir) {
		t.Fatalf("forced prune: %+v, %v", res, err)
	}
}

func TestPruneDeepCheck(t *testing.T) {
	target := t.TempDir()
	MustRsPack(t, target, pruneNow.Add(-2*time.Hour))
	newest := MustRsPack(t, target, pruneNow.Add(-1*time.Hour))
	MustRsFlip(t, newest.Path("volumes/demo_data.tar"), 3000) // invisible to the structural check
	now := func() time.Time { return pruneNow }
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, DryRun: true, Now: now})
	if err != nil || len(res.Deleted) != 1 || res.Newest == nil || !res.Newest.Structural {
		t.Fatalf("structural dry run: %+v, %v", res, err)
	}
	res, err = backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, Deep: true, StagingDir: t.TempDir(), Now: now})
	if !errors.Is(err, backup.ErrPruneRefused) || len(res.Deleted) != 0 {
		t.Fatalf("deep prune: %+v, %v", res, err)
	}
}

func TestPruneUnreadableNewestPack(t *testing.T) {
	target := t.TempDir()
	MustRsPack(t, target, pruneNow.Add(-3*time.Hour))
	MustRsPack(t, target, pruneNow.Add(-2*time.Hour))
	now := func() time.Time { return pruneNow }
	// A newer pack whose manifest does not parse: it may be the project's newest.
	broken := MustRsPack(t, target, pruneNow.Add(-1*time.Hour))
	os.WriteFile(broken.Path(backup.ManifestFile), []byte(`{"project": "demo", "format_version": 1`), 0o644)
	if _, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, Now: now}); !errors.Is(err, backup.ErrPruneRefused) {
		t.Fatalf("err = %v, want refused", err)
	}
	// One that names another project does not hold this project's prune back.
	os.WriteFile(broken.Path(backup.ManifestFile), []byte(`{"project": "other"}`), 0o644)
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 1, Now: now})
	if err != nil || len(res.Deleted) != 1 || !mgrExists(broken.Dir) {
		t.Fatalf("prune: %+v, %v", res, err)
	}
}

func TestPrunePartialStillWritten(t *testing.T) {
	target := t.TempDir()
	MustRsPack(t, target, pruneNow.Add(-time.Hour))
	partial := MustPartial(t, target, pruneNow.Add(-48*time.Hour))
	os.WriteFile(filepath.Join(partial, "images.tar"), []byte("being written"), 0o644) // mtime: now
	o := backup.PruneOptions{Target: target, Keep: 5, PartialOlderThan: 24 * time.Hour, LiveWithin: time.Hour, Now: func() time.Time { return pruneNow }}
	if res, err := backup.Prune(context.Background(), o); err != nil || len(res.Deleted) != 0 || !mgrExists(partial) {
		t.Fatalf("a partial dir written to just now was deleted: %+v %v", res, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(partial, "images.tar"), old, old)
	os.Chtimes(partial, old, old)
	if res, err := backup.Prune(context.Background(), o); err != nil || len(res.Deleted) != 1 || mgrExists(partial) {
		t.Fatalf("an idle old partial dir was kept: %+v %v", res, err)
	}
}

// Verify reads every file of a pack once and names what fails.
func ExampleVerify() {
	res, err := backup.Verify(context.Background(), "/mnt/backup/migration_pack_20260101_020000_000", backup.VerifyOptions{})
	var ve *backup.VerifyError
	switch {
	case errors.As(err, &ve):
		for _, c := range ve.Failed {
			fmt.Println("FAILED", c)
		}
	case err != nil:
		fmt.Println("could not verify:", err)
	default:
		fmt.Println("ok", res.PackageHash)
	}
	// Output:
	// FAILED pack: expected a pack directory, actual missing; stat /mnt/backup/migration_pack_20260101_020000_000: no such file or directory; check the path (and that the share is mounted)
}
