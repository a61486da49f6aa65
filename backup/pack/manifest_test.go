package pack_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
)

const sumA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func goodManifest() *pack.Manifest {
	return &pack.Manifest{
		FormatVersion: pack.FormatVersion,
		CreatedAt:     time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC),
		Project:       "demo",
		Contents:      []pack.Component{pack.ComponentDB, pack.ComponentVolumes, pack.ComponentImages},
		Files: []pack.FileEntry{
			{Path: "auth.db", Kind: pack.FileSQLite, Size: 10, SHA256: sumA},
			{Path: "images.tar", Kind: pack.FileImages, Size: 10, SHA256: sumA},
			{Path: "volumes/v.tar", Kind: pack.FileVolume, Size: 10, SHA256: sumA},
		},
		Images:  []pack.ImageEntry{{ID: "sha256:" + sumA, ConfigDigest: "sha256:" + sumA, RepoTags: []string{"a:1"}}},
		Volumes: []pack.VolumeEntry{{Name: "v", Driver: "local", File: "volumes/v.tar"}},
		SQLite:  &pack.SQLiteEntry{Source: "/data/auth.db", File: "auth.db", Check: "ok"},
	}
}

func TestManifestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m *pack.Manifest)
		want   string
	}{
		{"ok", func(*pack.Manifest) {}, ""},
		{"version", func(m *pack.Manifest) { m.FormatVersion = 9 }, "format_version"},
		{"escaping path", func(m *pack.Manifest) { m.Files[0].Path = "../x" }, "clean relative path"},
		{"absolute path", func(m *pack.Manifest) { m.Files[0].Path = "/etc/passwd" }, "clean relative path"},
		{"bad sha", func(m *pack.Manifest) { m.Files[1].SHA256 = "xyz" }, "64 lowercase hex"},
		{"volume file missing", func(m *pack.Manifest) { m.Volumes[0].File = "volumes/w.tar" }, "does not list"},
		{"images without file", func(m *pack.Manifest) { m.Files = m.Files[:1] }, "images.tar"},
		{"sqlite check", func(m *pack.Manifest) { m.SQLite.Check = "corrupt" }, "sqlite.check"},
		{"duplicate", func(m *pack.Manifest) { m.Files[2].Path = "auth.db" }, "listed twice"},
		{"bad digest", func(m *pack.Manifest) { m.Images[0].ConfigDigest = "md5:1" }, "config_digest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := goodManifest()
			tc.mutate(m)
			err := m.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, pack.ErrManifest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrManifest mentioning %q", err, tc.want)
			}
		})
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := goodManifest()
	data, err := pack.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := pack.ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := pack.MarshalManifest(back)
	if !bytes.Equal(data, again) {
		t.Fatalf("round trip changed the manifest:\n%s\n%s", data, again)
	}
	if _, err := pack.ParseManifest(append(data, []byte("{}")...)); !errors.Is(err, pack.ErrManifest) {
		t.Fatalf("trailing data accepted: %v", err)
	}
}

func TestSumsRoundTrip(t *testing.T) {
	in := []pack.Sum{{SHA256: sumA, Path: "volumes/b.tar"}, {SHA256: sumA, Path: "auth.db"}}
	data := pack.FormatSums(in)
	if !strings.HasPrefix(string(data), sumA+"  auth.db\n") {
		t.Fatalf("not sorted / not sha256sum format: %q", data)
	}
	out, err := pack.ParseSums(bytes.NewReader(data))
	if err != nil || len(out) != 2 || out[1].Path != "volumes/b.tar" {
		t.Fatalf("parse: %v %+v", err, out)
	}
	for _, bad := range []string{"xyz  a\n", sumA + "  ../etc\n", sumA + " a\n"} {
		if _, err := pack.ParseSums(strings.NewReader(bad)); !errors.Is(err, pack.ErrManifest) {
			t.Errorf("ParseSums(%q) err = %v", bad, err)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	good, _ := pack.MarshalManifest(goodManifest())
	f.Add(good)
	f.Add([]byte(`{"format_version":1}`))
	f.Add([]byte(`{"format_version":1,"project":"p","created_at":"2026-01-01T00:00:00Z","components":[{"path":"../a","kind":"volume","size":1,"sha256":"` + sumA + `"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := pack.ParseManifest(data)
		if err != nil {
			if !errors.Is(err, pack.ErrManifest) {
				t.Fatalf("error not ErrManifest: %v", err)
			}
			return
		}
		for _, fe := range m.Files {
			if strings.HasPrefix(fe.Path, "/") || strings.Contains(fe.Path, "..") && filepath.Clean(fe.Path) != fe.Path {
				t.Fatalf("accepted path %q", fe.Path)
			}
			if p := filepath.Join("/pack", fe.Path); !strings.HasPrefix(p, "/pack/") {
				t.Fatalf("path %q escapes the pack", fe.Path)
			}
		}
	})
}

func FuzzParseSums(f *testing.F) {
	f.Add([]byte(sumA + "  auth.db\n"))
	f.Add([]byte(sumA + " *volumes/x.tar\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, err := pack.ParseSums(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range sums {
			if p := filepath.Join("/pack", s.Path); !strings.HasPrefix(p, "/pack/") {
				t.Fatalf("path %q escapes the pack", s.Path)
			}
		}
	})
}

func TestListPacks(t *testing.T) {
	target := t.TempDir()
	good := filepath.Join(target, "migration_pack_20261124_010203_004")
	os.MkdirAll(good, 0o755)
	data, _ := pack.MarshalManifest(goodManifest())
	os.WriteFile(filepath.Join(good, pack.ManifestFile), data, 0o644)
	os.MkdirAll(filepath.Join(target, "migration_pack_20261125_010203_004"), 0o755) // no manifest → invalid
	os.MkdirAll(filepath.Join(target, ".partial-migration_pack_20261126_010203_004"), 0o755)
	os.MkdirAll(filepath.Join(target, "unrelated"), 0o755)
	packs, err := pack.List(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range packs {
		got = append(got, string(p.Status)+":"+p.Name)
	}
	want := "partial:.partial-migration_pack_20261126_010203_004 invalid:migration_pack_20261125_010203_004 complete:migration_pack_20261124_010203_004"
	if strings.Join(got, " ") != want {
		t.Fatalf("packs %v\nwant %s", got, want)
	}
	if packs[2].Project != "demo" || packs[2].Size != 30 || packs[2].PackageHash == "" {
		t.Fatalf("complete pack info %+v", packs[2])
	}
}
