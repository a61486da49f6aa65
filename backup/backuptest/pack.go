package backuptest

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// Entry is one entry of a test tar.
type Entry struct {
	Name     string
	Body     string
	Type     byte
	Link     string
	Mode     int64
	UID, GID int
}

// MustTar builds a tar (with its end marker) like a volume export: "./"
// first, entries relative to the volume root.
func MustTar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	tes := make([]dockertest.TarEntry, len(entries))
	for i, e := range entries {
		tes[i] = dockertest.TarEntry{Name: e.Name, Type: e.Type, Body: []byte(e.Body), Mode: e.Mode, UID: e.UID, GID: e.GID, Linkname: e.Link}
	}
	return dockertest.MustTar(t, tes...)
}

// MustImageArchive builds a small image archive in docker save's legacy
// layout; it returns the archive and the image's config digest.
func MustImageArchive(t testing.TB, tag string) ([]byte, string) {
	t.Helper()
	layer := MustTar(t, Entry{Name: "app.txt", Body: strings.Repeat("app\n", 300)})
	cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}`, Hex(layer))
	cfgHex := Hex([]byte(cfg))
	v1 := Hex(append([]byte("v1"), layer...))
	manifest := fmt.Sprintf(`[{"Config":"%s.json","RepoTags":[%q],"Layers":["%s/layer.tar"]}]`, cfgHex, tag, v1)
	archive := MustTar(t,
		Entry{Name: v1 + "/"},
		Entry{Name: v1 + "/VERSION", Body: "1.0"},
		Entry{Name: v1 + "/layer.tar", Body: string(layer)},
		Entry{Name: cfgHex + ".json", Body: cfg},
		Entry{Name: "manifest.json", Body: manifest},
	)
	return archive, "sha256:" + cfgHex
}

// MustDBBytes creates a small rollback-journal SQLite database (a snapshot is
// self-contained) and returns its bytes.
func MustDBBytes(t testing.TB, rows ...string) []byte {
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

// Pack is a complete pack written by MustPack.
type Pack struct {
	Dir      string
	Manifest *pack.Manifest
	Hash     string
	ImageTag string
	Digest   string
	Files    map[string][]byte // pack path → content
}

// Path is the absolute path of a pack file.
func (p *Pack) Path(rel string) string { return filepath.Join(p.Dir, filepath.FromSlash(rel)) }

// dataTar is the content of the test pack's data volume.
func dataTar(t testing.TB) []byte {
	return MustTar(t,
		Entry{Name: "./"},
		Entry{Name: "conf/", Mode: 0o750, UID: 1000, GID: 1000},
		Entry{Name: "conf/app.ini", Body: "[app]\nname=demo\n", Mode: 0o640, UID: 1000, GID: 1000},
		Entry{Name: "blob.bin", Body: strings.Repeat("0123456789abcdef", 4096)},
		Entry{Name: "link", Type: tar.TypeSymlink, Link: "conf/app.ini"},
		Entry{Name: "hard", Type: tar.TypeLink, Link: "blob.bin"},
		Entry{Name: "empty/"},
	)
}

// MustPack writes a complete, valid pack of project "demo" into target:
// auth.db, volumes demo_data (compose labels) and shared (external),
// images.tar with demo/app:1, a compose file; manifest.json and SHA256SUMS.
func MustPack(t testing.TB, target string, created time.Time) *Pack {
	t.Helper()
	ts := strings.Replace(created.UTC().Format(pack.TimeLayout), ".", "_", 1)
	p := &Pack{Dir: filepath.Join(target, pack.NamePrefix+ts), ImageTag: "demo/app:1", Files: map[string][]byte{}}
	img, digest := MustImageArchive(t, p.ImageTag)
	p.Digest = digest
	p.Files["auth.db"] = MustDBBytes(t, "ada", "grace")
	p.Files["volumes/demo_data.tar"] = dataTar(t)
	p.Files["volumes/shared.tar"] = MustTar(t, Entry{Name: "./"}, Entry{Name: "shared.txt", Body: "shared\n"})
	p.Files["images.tar"] = img
	p.Files["compose/docker-compose.yml"] = []byte("services:\n  app:\n    image: demo/app:1\n")
	m := &pack.Manifest{
		FormatVersion: pack.FormatVersion, Tool: pack.ToolInfo{Name: "dockpack", Version: "test"}, CreatedAt: created.UTC(),
		Project: "demo", Contents: []pack.Component{pack.ComponentDB, pack.ComponentVolumes, pack.ComponentImages},
		Images: []pack.ImageEntry{{ID: digest, ConfigDigest: digest, RepoTags: []string{p.ImageTag}, RepoDigests: []string{}, Size: 4096}},
		Volumes: []pack.VolumeEntry{
			{Name: "demo_data", Driver: "local", Options: map[string]string{},
				Labels: map[string]string{"com.docker.compose.project": "demo", "com.docker.compose.volume": "data", "com.docker.compose.config-hash": "abc"},
				Size:   int64(len("[app]\nname=demo\n") + 16*4096), File: "volumes/demo_data.tar"},
			{Name: "shared", Driver: "local", Options: map[string]string{}, Labels: map[string]string{}, External: true, Size: 7, File: "volumes/shared.tar"},
		},
		SQLite:  &pack.SQLiteEntry{Source: "/srv/demo/auth.db", File: "auth.db", SQLiteVersion: "3.51.0", JournalMode: "delete", Check: "ok"},
		Skipped: []pack.SkipEntry{},
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
	Rewrite(t, p)
	return p
}

// Rewrite recomputes the manifest's file list from p.Files and writes
// manifest.json and SHA256SUMS (a pack consistent with whatever the files
// now hold).
func Rewrite(t testing.TB, p *Pack) {
	t.Helper()
	kinds := map[string]pack.FileKind{"auth.db": pack.FileSQLite, "images.tar": pack.FileImages}
	p.Manifest.Files = nil
	var sums []pack.Sum
	for _, rel := range []string{"auth.db", "compose/docker-compose.yml", "images.tar", "volumes/demo_data.tar", "volumes/shared.tar"} {
		b, ok := p.Files[rel]
		if !ok {
			continue
		}
		k := kinds[rel]
		switch {
		case strings.HasPrefix(rel, "volumes/"):
			k = pack.FileVolume
		case strings.HasPrefix(rel, "compose/"):
			k = pack.FileCompose
		}
		p.Manifest.Files = append(p.Manifest.Files, pack.FileEntry{Path: rel, Kind: k, Size: int64(len(b)), SHA256: Hex(b)})
		sums = append(sums, pack.Sum{SHA256: Hex(b), Path: rel})
	}
	data, err := pack.MarshalManifest(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Path(pack.ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p.Hash = Hex(data)
	sums = append(sums, pack.Sum{SHA256: p.Hash, Path: pack.ManifestFile})
	if err := os.WriteFile(p.Path(pack.SumsFile), pack.FormatSums(sums), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MustFlip flips one byte of a pack file at offset off (negative: from the end).
func MustFlip(t testing.TB, path string, off int64) {
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

// Created is the creation time of the packs tests build by default.
var Created = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
