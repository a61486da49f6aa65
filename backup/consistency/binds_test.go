package consistency_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/consistency"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

func TestMeasureBind(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), make([]byte, 100), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b"), make([]byte, 50), 0o644)
	if m := consistency.MeasureBind(dir, 1000); m.Type != pack.BindDir || m.Size != 150 || m.Over || m.Err != nil {
		t.Fatalf("dir %+v", m)
	}
	if m := consistency.MeasureBind(dir, 120); !m.Over {
		t.Fatalf("over %+v", m)
	}
	if m := consistency.MeasureBind(filepath.Join(dir, "a"), 100); m.Type != pack.BindFile || m.Size != 100 || m.Over {
		t.Fatalf("file %+v", m)
	}
	if m := consistency.MeasureBind(filepath.Join(dir, "missing"), 100); m.Err == nil {
		t.Fatalf("missing %+v", m)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if m := consistency.MeasureBind(sock, 100); !m.Special {
		t.Fatalf("socket %+v", m)
	}
}

func TestBindTarRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "conf.d"), 0o750)
	os.WriteFile(filepath.Join(src, "nginx.conf"), []byte("worker_processes 1;\n"), 0o640)
	os.WriteFile(filepath.Join(src, "conf.d", "site.conf"), []byte("server {}\n"), 0o600)
	os.Symlink("nginx.conf", filepath.Join(src, "link"))
	os.Link(filepath.Join(src, "nginx.conf"), filepath.Join(src, "hard"))
	mtime := time.Unix(1700000000, 0)
	os.Chtimes(filepath.Join(src, "nginx.conf"), mtime, mtime)
	var buf bytes.Buffer
	n, err := consistency.WriteBindTar(ctx, src, pack.BindDir, &buf)
	if err != nil || n != int64(len("worker_processes 1;\n")+len("server {}\n")) {
		t.Fatalf("write: %d %v", n, err)
	}
	if sum, err := tarcheck.ValidateTar(ctx, bytes.NewReader(buf.Bytes())); err != nil || sum.Entries != 6 || sum.HardLinks != 1 || sum.Symlinks != 1 {
		t.Fatalf("tar %+v %v", sum, err)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	if err := consistency.ExtractBind(ctx, bytes.NewReader(buf.Bytes()), pack.BindDir, dest, false); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"nginx.conf": "worker_processes 1;\n", "conf.d/site.conf": "server {}\n", "hard": "worker_processes 1;\n"} {
		if b, err := os.ReadFile(filepath.Join(dest, rel)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", rel, b, err)
		}
	}
	if l, _ := os.Readlink(filepath.Join(dest, "link")); l != "nginx.conf" {
		t.Errorf("link → %q", l)
	}
	fi, _ := os.Stat(filepath.Join(dest, "conf.d", "site.conf"))
	di, _ := os.Stat(filepath.Join(dest, "conf.d"))
	ni, _ := os.Stat(filepath.Join(dest, "nginx.conf"))
	hi, _ := os.Stat(filepath.Join(dest, "hard"))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o750 || !ni.ModTime().Equal(mtime) || !os.SameFile(ni, hi) {
		t.Errorf("modes %v %v, mtime %v, hard link %v", fi.Mode(), di.Mode(), ni.ModTime(), os.SameFile(ni, hi))
	}
	// The destination now holds data: refused without force, written over with it.
	err = consistency.ExtractBind(ctx, bytes.NewReader(buf.Bytes()), pack.BindDir, dest, false)
	if !errors.Is(err, consistency.ErrBindExists) {
		t.Fatalf("over existing data: %v", err)
	}
	os.WriteFile(filepath.Join(dest, "nginx.conf"), []byte("changed"), 0o644)
	if err := consistency.ExtractBind(ctx, bytes.NewReader(buf.Bytes()), pack.BindDir, dest, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "nginx.conf")); string(b) != "worker_processes 1;\n" {
		t.Fatalf("forced: %q", b)
	}
}

func TestBindTarOfOneFile(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "app.ini")
	os.WriteFile(src, []byte("[app]\n"), 0o604)
	var buf bytes.Buffer
	if _, err := consistency.WriteBindTar(ctx, src, pack.BindFile, &buf); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "etc", "app.ini")
	if err := consistency.ExtractBind(ctx, bytes.NewReader(buf.Bytes()), pack.BindFile, dest, false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if b, _ := os.ReadFile(dest); err != nil || string(b) != "[app]\n" || fi.Mode().Perm() != 0o604 {
		t.Fatalf("%q %v %v", b, fi.Mode(), err)
	}
	if err := consistency.ExtractBind(ctx, bytes.NewReader(buf.Bytes()), pack.BindFile, dest, false); !errors.Is(err, consistency.ErrBindExists) {
		t.Fatalf("existing file: %v", err)
	}
	// A reader that fails at its end (a checksum) leaves the file as it was.
	os.WriteFile(dest, []byte("mine"), 0o644)
	failing := &failAtEOF{r: bytes.NewReader(buf.Bytes())}
	if err := consistency.ExtractBind(ctx, failing, pack.BindFile, dest, true); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("failing reader: %v", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "mine" {
		t.Fatalf("file changed by a failed restore: %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dest)); len(ents) != 1 {
		t.Fatalf("leftovers: %v", ents)
	}
}

type failAtEOF struct{ r *bytes.Reader }

func (f *failAtEOF) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil {
		return n, errors.New("pack file changed: checksum differs")
	}
	return n, nil
}

func TestBindFileReplacesTheEnginesEmptyDirectory(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "app.ini")
	os.WriteFile(src, []byte("x=1\n"), 0o644)
	var buf bytes.Buffer
	if _, err := consistency.WriteBindTar(ctx, src, pack.BindFile, &buf); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "app.ini")
	os.Mkdir(dest, 0o755) // dockerd made it when a container started without the file
	if err := consistency.ExtractBind(ctx, bytes.NewReader(buf.Bytes()), pack.BindFile, dest, false); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dest); err != nil || string(b) != "x=1\n" {
		t.Fatalf("%q %v", b, err)
	}
}
