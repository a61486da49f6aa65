package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
	"github.com/dockpack/dockpack/backup/transfer"
)

func openLocal(t *testing.T, dir string) *local.Backend {
	t.Helper()
	b, err := local.Open(context.Background(), local.Options{Dir: dir, Owner: "copytest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// TestCopyRoundTrip: a classic pack goes from a directory to object
// storage and on to a second directory; every file arrives verified, the
// copy there passes the full verify, and a copy of what is already there
// only verifies.
func TestCopyRoundTrip(t *testing.T) {
	srv := s3test.Start(t)
	srcDir := t.TempDir()
	p := backuptest.MustPack(t, srcDir, time.Date(2026, 12, 5, 10, 15, 0, 0, time.UTC))
	name := filepath.Base(p.Dir)
	src := openLocal(t, srcDir)
	remote := srv.Backend(t, srv.Bucket(t, "copy"), "site-a", func(o *s3.Options) { o.PartSize = s3.MinPartSize })

	res, err := transfer.Copy(ctx(t), src, remote, transfer.Options{Pack: name})
	if err != nil {
		t.Fatal(err)
	}
	want := len(p.Manifest.Files) + 1 // and SHA256SUMS
	if res.Files != want || res.Copied != want || res.Skipped != 0 || res.AlreadyThere {
		t.Errorf("to S3: %+v, want %d files copied", res, want)
	}
	for rel, data := range p.Files {
		got, err := storage.ReadObject(ctx(t), remote, name+"/"+rel, 1<<30)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s at the destination: %d bytes, %v", rel, len(got), err)
		}
	}

	second := t.TempDir()
	res, err = transfer.Copy(ctx(t), remote, openLocal(t, second), transfer.Options{Pack: name})
	if err != nil || res.Copied != want {
		t.Fatalf("to a second directory: %+v, %v", res, err)
	}
	vr, err := pack.Verify(ctx(t), filepath.Join(second, name), pack.VerifyOptions{StagingDir: t.TempDir()})
	if err != nil || len(vr.Failed()) > 0 {
		t.Fatalf("full verify of the copy: %v %+v", err, vr.Failed())
	}
	if entries, _ := os.ReadDir(second); len(entries) != 1 || entries[0].Name() != name {
		t.Errorf("the second directory holds %v, want only %s", entries, name)
	}

	res, err = transfer.Copy(ctx(t), src, remote, transfer.Options{Pack: name})
	if err != nil || !res.AlreadyThere || res.Copied != 0 {
		t.Errorf("copy of a pack already there: %+v, %v", res, err)
	}
}

// TestCopyResumes: an interrupted copy leaves nothing visible; the next
// one copies only what is missing or wrong.
func TestCopyResumes(t *testing.T) {
	srv := s3test.Start(t)
	srcDir := t.TempDir()
	p := backuptest.MustPack(t, srcDir, time.Date(2026, 12, 5, 10, 16, 0, 0, time.UTC))
	name := filepath.Base(p.Dir)
	src := openLocal(t, srcDir)
	remote := srv.Backend(t, srv.Bucket(t, "resume"), "", func(o *s3.Options) { o.PartSize = s3.MinPartSize })

	// An interrupted copy: canceled once the first file has arrived.
	c, cancel := context.WithCancel(ctx(t))
	_, err := transfer.Copy(c, src, remote, transfer.Options{Pack: name, Progress: func(file string, done, total int64) {
		if done > 0 && file != "" {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("the canceled copy succeeded")
	}
	if _, err := remote.Stat(ctx(t), name+"/"+pack.ManifestFile); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("after an interrupted copy the manifest is there: %v", err)
	}
	// Damage one file that arrived, as a torn earlier copy might have.
	var arrived []string
	_ = remote.List(ctx(t), name+"/", func(i storage.Info) error { arrived = append(arrived, i.Key); return nil })
	if _, err := storage.WriteObject(ctx(t), remote, name+"/auth.db", strings.NewReader("torn"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := transfer.Copy(ctx(t), src, remote, transfer.Options{Pack: name})
	if err != nil {
		t.Fatal(err)
	}
	want := len(p.Manifest.Files) + 1
	if res.Copied+res.Skipped != want || res.Copied == 0 {
		t.Errorf("resumed copy: %+v (arrived before: %v)", res, arrived)
	}
	if got, _ := storage.ReadObject(ctx(t), remote, name+"/auth.db", 1<<20); !bytes.Equal(got, p.Files["auth.db"]) {
		t.Error("the torn file was not copied again")
	}
	if n, _ := remote.Uploads(ctx(t)); n != 0 {
		t.Errorf("%d uploads left", n)
	}
}

// TestCopyRefuses: a damaged source, a store pack's absence of data, and
// another pack under the same name stop the copy with nothing visible.
func TestCopyRefuses(t *testing.T) {
	srcDir, dstDir := t.TempDir(), t.TempDir()
	p := backuptest.MustPack(t, srcDir, time.Date(2026, 12, 5, 10, 17, 0, 0, time.UTC))
	name := filepath.Base(p.Dir)
	if err := os.WriteFile(p.Path("volumes/shared.tar"), bytes.Repeat([]byte{0}, len(p.Files["volumes/shared.tar"])), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := transfer.Copy(ctx(t), openLocal(t, srcDir), openLocal(t, dstDir), transfer.Options{Pack: name})
	if !errors.Is(err, transfer.ErrSource) {
		t.Fatalf("damaged source: %v, want ErrSource", err)
	}
	if _, err := os.Stat(filepath.Join(dstDir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a refused copy the pack is visible: %v", err)
	}
	if _, err := transfer.Copy(ctx(t), openLocal(t, srcDir), openLocal(t, dstDir), transfer.Options{Pack: "../etc"}); err == nil {
		t.Error("a bad pack name was copied")
	}

	other := backuptest.MustPack(t, t.TempDir(), time.Date(2026, 12, 5, 10, 17, 0, 0, time.UTC))
	conflict := t.TempDir()
	if err := os.Rename(other.Dir, filepath.Join(conflict, name)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conflict, name, pack.ManifestFile), []byte(strings.Replace(string(mustRead(t, filepath.Join(conflict, name, pack.ManifestFile))), `"demo"`, `"other"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	good := backuptest.MustPack(t, t.TempDir(), time.Date(2026, 12, 5, 10, 17, 0, 0, time.UTC))
	if _, err := transfer.Copy(ctx(t), openLocal(t, filepath.Dir(good.Dir)), openLocal(t, conflict), transfer.Options{Pack: name}); !errors.Is(err, transfer.ErrConflict) {
		t.Errorf("another pack of the same name: %v, want ErrConflict", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
