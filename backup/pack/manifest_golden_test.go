package pack_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended):\n%s", p, got)
	}
	return want
}

// hexOf is a 64-digit hex string of c.
func hexOf(c string) string { return strings.Repeat(c, 64) }

// fullManifest is a manifest of format 1 with every section filled.
func fullManifest() *pack.Manifest {
	return &pack.Manifest{
		FormatVersion: pack.FormatVersion,
		Tool:          pack.ToolInfo{Name: "dockpack", Version: "1.4.2"},
		CreatedAt:     time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC),
		Host:          "app-host-1",
		Engine: pack.EngineEntry{Version: "20.10.24", APIVersion: "1.41", ImageStore: "overlay2", StorageDriver: "overlay2",
			OS: "linux", Arch: "amd64"},
		Project:  "demo",
		Contents: []pack.Component{pack.ComponentDB, pack.ComponentVolumes, pack.ComponentImages},
		Files: []pack.FileEntry{
			{Path: "auth.db", Kind: pack.FileSQLite, Size: 1 << 20, SHA256: hexOf("1")},
			{Path: "compose/docker-compose.yml", Kind: pack.FileCompose, Size: 412, SHA256: hexOf("2")},
			{Path: "images.tar", Kind: pack.FileImages, Size: 300 << 20, SHA256: hexOf("3")},
			{Path: "volumes/demo_data.tar", Kind: pack.FileVolume, Size: 50 << 20, SHA256: hexOf("4")},
			{Path: "volumes/shared.tar", Kind: pack.FileVolume, Size: 10240, SHA256: hexOf("5")},
		},
		Images: []pack.ImageEntry{
			{ID: "sha256:" + hexOf("a"), ConfigDigest: "sha256:" + hexOf("a"), RepoTags: []string{"demo/app:1", "demo/app:latest"},
				RepoDigests: []string{"registry.example/demo/app@sha256:" + hexOf("b")}, Size: 250 << 20},
			{ID: "sha256:" + hexOf("c"), ConfigDigest: "sha256:" + hexOf("c"), RepoTags: []string{}, RepoDigests: []string{}, Size: 40 << 20},
		},
		Volumes: []pack.VolumeEntry{
			{Name: "demo_data", Driver: "local", Options: map[string]string{"type": "none", "o": "bind", "device": "/srv/demo"},
				Labels: map[string]string{"com.docker.compose.project": "demo", "com.docker.compose.volume": "data", "com.docker.compose.version": "2.24.0"},
				Size:   48 << 20, File: "volumes/demo_data.tar"},
			{Name: "shared", Driver: "local", Options: map[string]string{}, Labels: map[string]string{}, External: true, Size: 7, File: "volumes/shared.tar"},
		},
		SQLite: &pack.SQLiteEntry{Source: "/srv/demo/auth.db", File: "auth.db", SQLiteVersion: "3.51.0", JournalMode: "wal",
			PageCount: 256, PageSize: 4096, Check: "ok"},
		Skipped: []pack.SkipEntry{
			{Kind: "bind", Source: "/srv/demo/uploads", Destination: "/app/uploads", Container: "demo-app-1", Reason: "bind mount: a host directory the engine does not manage; back it up with the host's files"},
			{Kind: "anonymous", Source: hexOf("d"), Destination: "/var/cache", Container: "demo-app-1", Reason: "anonymous volume: it has no stable name to restore to (compose recreates it empty); give it a name in the compose file to back it up"},
			{Kind: "tmpfs", Source: "tmpfs", Destination: "/run", Container: "demo-app-1", Reason: "tmpfs mount: memory only, nothing persists"},
			{Kind: "compose-file", Source: "/srv/demo/.env", Reason: "not readable from where dockpack runs (permission denied); keep a copy of it yourself"},
		},
		MissingPlatforms: []string{"linux/arm64", "linux/arm/v7"},
	}
}

// TestManifestFormat1Golden pins manifest.json format 1: the bytes
// MarshalManifest writes, and that they parse back to the same manifest.
func TestManifestFormat1Golden(t *testing.T) {
	m := fullManifest()
	if err := m.Validate(); err != nil {
		t.Fatalf("the golden manifest does not validate: %v", err)
	}
	data, err := pack.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	want := golden(t, "manifest_v1.golden.json", data)
	back, err := pack.ParseManifest(want)
	if err != nil {
		t.Fatalf("the golden file does not parse: %v", err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("the golden file parses to\n%+v\nwant\n%+v", back, m)
	}
}
