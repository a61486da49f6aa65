package backuptest

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/mountcheck"
)

// Relaxed is the mount policy of unit tests: their temp dirs are on the root filesystem.
var Relaxed = mountcheck.Policy{AnyFSType: true, AllowRootFS: true, ProbeTimeout: 5 * time.Second}

// MustSQLite creates dir/name, a WAL database with a table users holding rows.
func MustSQLite(t testing.TB, dir, name string, rows ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);`, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := sqlitex.Execute(conn, `INSERT INTO users(name) VALUES (?)`, &sqlitex.ExecOptions{Args: []any{r}}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// MustSpec is a backup of the demo project from eng into a fresh target,
// with a fresh database (users ada and grace) and staging directory.
func MustSpec(t *testing.T, eng backup.Engine) backup.Spec {
	t.Helper()
	return backup.Spec{
		Engine:     eng,
		Project:    "demo",
		Target:     filepath.Join(t.TempDir(), "target"),
		Policy:     Relaxed,
		SQLitePath: MustSQLite(t, t.TempDir(), "auth.db", "ada", "grace"),
		StagingDir: t.TempDir(),
	}
}

// ProgressLog records progress reports.
type ProgressLog struct {
	mu  sync.Mutex
	all []progress.Report
}

// Func is the progress.Func that records.
func (p *ProgressLog) Func(pr progress.Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all = append(p.all, pr)
}

// All returns the reports so far.
func (p *ProgressLog) All() []progress.Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]progress.Report(nil), p.all...)
}

// MustEntries lists the names in dir (none when it does not exist).
func MustEntries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// Exists reports whether p exists (without following a symlink).
func Exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Str returns a pointer to s.
func Str(s string) *string { return &s }

// Int returns a pointer to n.
func Int(n int64) *int64 { return &n }

// Wait polls cond every 5 ms until it holds, failing the test after d.
func Wait(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Clock is an adjustable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// SmallTar is a small volume-export-like tar: "./" and files (name, content pairs).
func SmallTar(kv ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	for i := 0; i+1 < len(kv); i += 2 {
		tw.WriteHeader(&tar.Header{Name: kv[i], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(kv[i+1]))})
		tw.Write([]byte(kv[i+1]))
	}
	tw.Close()
	return buf.Bytes()
}

// packName is the directory name of a pack (or, with prefix, a partial one) created at created.
func packDirName(prefix string, created time.Time) string {
	return prefix + strings.Replace(created.UTC().Format(pack.TimeLayout), ".", "_", 1)
}

// MustSmallPack writes a complete pack (valid manifest, one volume file) of
// project created at created into target and returns its path.
func MustSmallPack(t testing.TB, target, project string, created time.Time) string {
	t.Helper()
	dir := filepath.Join(target, packDirName(pack.NamePrefix, created))
	if err := os.MkdirAll(filepath.Join(dir, pack.VolumesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	data := SmallTar("data.txt", "volume "+filepath.Base(dir))
	if err := os.WriteFile(filepath.Join(dir, pack.VolumesDir, "v.tar"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := &pack.Manifest{
		FormatVersion: pack.FormatVersion, Tool: pack.ToolInfo{Name: "dockpack", Version: "test"}, CreatedAt: created.UTC(),
		Project: project, Contents: []pack.Component{pack.ComponentVolumes},
		Files:   []pack.FileEntry{{Path: "volumes/v.tar", Kind: pack.FileVolume, Size: int64(len(data)), SHA256: Hex(data)}},
		Volumes: []pack.VolumeEntry{{Name: "v", Driver: "local", Options: map[string]string{}, Labels: map[string]string{}, File: "volumes/v.tar"}},
		Images:  []pack.ImageEntry{}, Skipped: []pack.SkipEntry{},
	}
	b, err := pack.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pack.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	sums := pack.FormatSums([]pack.Sum{{SHA256: Hex(data), Path: "volumes/v.tar"}, {SHA256: Hex(b), Path: pack.ManifestFile}})
	if err := os.WriteFile(filepath.Join(dir, pack.SumsFile), sums, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// MustPartial creates a partial pack directory named for created.
func MustPartial(t testing.TB, target string, created time.Time) string {
	t.Helper()
	dir := filepath.Join(target, packDirName(pack.PartialPrefix, created))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// MustManifestOnlyPack writes a pack holding nothing but a valid manifest of
// project "demo", created at when (enough for listing and doctor).
func MustManifestOnlyPack(t testing.TB, target string, when time.Time) string {
	t.Helper()
	dir := filepath.Join(target, pack.NamePrefix+when.UTC().Format("20060102_150405")+"_000")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := pack.MarshalManifest(&pack.Manifest{FormatVersion: pack.FormatVersion, CreatedAt: when.UTC(), Project: "demo", Contents: []pack.Component{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pack.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
