//go:build integration

package integration_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/storagetest"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/internal/owner"
)

// TestS3FullDisk: versitygw's posix directory on a 40 MiB tmpfs; a stream
// larger than that fails with an error, leaves no object and no upload,
// and the target takes objects again (with the rest of the conformance
// suite on a plain server).
func TestS3FullDisk(t *testing.T) {
	const free = 40 << 20
	full := MustS3OnTmpfs(t, free)
	fullBucket := full.Bucket(t, "full")
	plain := MustS3(t)
	bucket := plain.Bucket(t, "plain")
	var n atomic.Int32
	part := func(o *s3.Options) { o.PartSize = s3.MinPartSize }
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return plain.Backend(t, bucket, "run"+string(rune('a'+n.Add(1))), part)
	}, storagetest.Options{
		PartSize: s3.MinPartSize,
		Pending:  func(ctx context.Context, b storage.Backend) (int, error) { return b.(*s3.Backend).Uploads(ctx) },
		Full:     func(t *testing.T) storage.Backend { return full.Backend(t, fullBucket, "", part) },
		FullFree: free,
	})
}

// TestS3StoreLease: the pack store's exclusive lease (backup/store) shared
// by hosts through one bucket, with conditional writes and with the
// fallback (write, wait, list, lowest wins) forced although versitygw
// honours If-None-Match: never two holders at once among writers on two
// "hosts"; a holder on another host that is killed is taken over once its
// lease expires; one on this host that is killed, at once.
func TestS3StoreLease(t *testing.T) {
	for _, mode := range []s3.Exclusive{s3.ExclusiveConditional, s3.ExclusiveFallback} {
		t.Run(string(mode), func(t *testing.T) {
			srv := MustS3(t)
			bucket := srv.Bucket(t, "lease")
			open := func(t *testing.T) *s3.Backend {
				return srv.Backend(t, bucket, "store", func(o *s3.Options) {
					o.Exclusive = mode
					o.ClaimWait = s3.MinClaimWait
				})
			}
			backends := []*s3.Backend{open(t), open(t)}
			var holders, acquired atomic.Int32
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := owner.Self("")
					id.Host = []string{"host-a", "host-b"}[w%2]
					for range 2 {
						l, err := store.AcquireLock(MustCtx(t), backends[w%2], store.LockOptions{Mode: store.Exclusive, Owner: id, Purpose: "prune", TTL: 30 * time.Second, Wait: 2 * time.Minute})
						if err != nil {
							errs <- err
							return
						}
						if h := holders.Add(1); h != 1 {
							errs <- errors.New("two holders of the exclusive lease at once")
						}
						acquired.Add(1)
						time.Sleep(150 * time.Millisecond)
						holders.Add(-1)
						if err := l.Release(MustCtx(t)); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if acquired.Load() != 8 {
				t.Errorf("%d acquisitions, want 8", acquired.Load())
			}

			// Another process on another host holds it, and is killed.
			kill := startLeaseHolder(t, srv, bucket, "store", mode, "host-b", 4*time.Second)
			me := owner.Self("")
			if _, err := store.AcquireLock(MustCtx(t), open(t), store.LockOptions{Mode: store.Exclusive, Owner: me, Purpose: "prune"}); !errors.Is(err, store.ErrLocked) {
				t.Fatalf("while the other host holds it: %v, want ErrLocked", err)
			}
			kill()
			start := time.Now()
			l, err := store.AcquireLock(MustCtx(t), open(t), store.LockOptions{Mode: store.Exclusive, Owner: me, Purpose: "prune", Wait: time.Minute})
			if err != nil {
				t.Fatalf("after the other host's holder died: %v", err)
			}
			t.Logf("%s: the dead holder on another host was taken over after %s (its lease: 4s)", mode, time.Since(start).Round(time.Millisecond))
			_ = l.Release(MustCtx(t))

			// A holder on this host that is killed is provably dead: taken over at once.
			kill = startLeaseHolder(t, srv, bucket, "store", mode, "", time.Hour)
			kill()
			if l, err := store.AcquireLock(MustCtx(t), open(t), store.LockOptions{Mode: store.Exclusive, Owner: me, Purpose: "prune"}); err != nil {
				t.Fatalf("after this host's holder died: %v", err)
			} else {
				_ = l.Release(MustCtx(t))
			}
		})
	}
}

// bigPack is a valid classic pack whose volumes/shared.tar holds size
// bytes of random data, with manifest and SHA256SUMS to match.
func bigPack(t *testing.T, dir string, size int64) *backuptest.Pack {
	t.Helper()
	p := backuptest.MustPack(t, dir, time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC))
	f, err := os.Create(p.Path("volumes/shared.tar"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	if err := tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "big.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, rand.NewChaCha8([32]byte{1}), size); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(tw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p.Path("volumes/shared.tar"))
	var sums []pack.Sum
	for i, e := range p.Manifest.Files {
		if e.Path == "volumes/shared.tar" {
			p.Manifest.Files[i].Size, p.Manifest.Files[i].SHA256 = fi.Size(), hex.EncodeToString(h.Sum(nil))
		}
		sums = append(sums, pack.Sum{Path: p.Manifest.Files[i].Path, SHA256: p.Manifest.Files[i].SHA256})
	}
	data, err := pack.MarshalManifest(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	ms := sha256.Sum256(data)
	sums = append(sums, pack.Sum{Path: pack.ManifestFile, SHA256: hex.EncodeToString(ms[:])})
	if err := errors.Join(os.WriteFile(p.Path(pack.ManifestFile), data, 0o600), os.WriteFile(p.Path(pack.SumsFile), pack.FormatSums(sums), 0o600)); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCopyKill9: dockpack copy killed with SIGKILL in the middle of a
// 256 MiB file leaves nothing visible at the destination (object storage:
// no manifest; a directory: no pack directory); run again, it resumes,
// aborts the killed run's upload, and the pack arrives verified.
func TestCopyKill9(t *testing.T) {
	bin := dmBinary(t)
	srv := MustS3(t)
	bucket := srv.Bucket(t, "offsite")
	p := bigPack(t, t.TempDir(), 256<<20)
	name := filepath.Base(p.Dir)
	localDst := t.TempDir()
	remote := srv.Backend(t, bucket, "site-a")
	for _, to := range []string{"s3://" + bucket + "/site-a", localDst} {
		kind := "local"
		if strings.HasPrefix(to, "s3://") {
			kind = "s3"
		}
		t.Run(kind, func(t *testing.T) {
			cmd := exec.Command(bin, "copy", p.Dir, "--to", to, "--s3-part-size", "5")
			cmd.Env = append(os.Environ(), S3Env(srv)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitCopying(t, kind, localDst, remote)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err := cmd.Wait()
			t.Logf("copy killed: %v", err)
			if err == nil {
				t.Fatal("the copy had finished before the kill")
			}
			if strings.HasPrefix(to, "s3://") {
				if _, err := remote.Stat(MustCtx(t), name+"/"+pack.ManifestFile); !errors.Is(err, storage.ErrNotExist) {
					t.Fatalf("after kill -9 the manifest is at the destination: %v", err)
				}
				n, _ := remote.Uploads(MustCtx(t))
				t.Logf("uploads left by the killed copy: %d", n)
			} else if _, err := os.Stat(filepath.Join(localDst, name)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("after kill -9 the pack directory is visible: %v", err)
			}
			start := time.Now()
			cmd = exec.Command(bin, "copy", p.Dir, "--to", to, "--json")
			cmd.Env = append(os.Environ(), S3Env(srv)...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("copy again: %v\n%s", err, out)
			}
			var res transfer.Result
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			t.Logf("resumed copy in %s: %+v", time.Since(start).Round(time.Millisecond), res)
			if res.Copied+res.Skipped != res.Files || res.AlreadyThere {
				t.Errorf("resumed copy: %+v", res)
			}
			if strings.HasPrefix(to, "s3://") {
				if n, err := remote.Uploads(MustCtx(t)); err != nil || n != 0 {
					t.Errorf("%d uploads left after the resumed copy (%v)", n, err)
				}
				return
			}
			vr, err := pack.Verify(MustCtx(t), filepath.Join(localDst, name), pack.VerifyOptions{StagingDir: t.TempDir()})
			if err != nil || len(vr.Failed()) > 0 {
				t.Errorf("full verify of the copy: %v %+v", err, vr.Failed())
			}
		})
	}
}

// waitCopying returns once a copy is under way at the destination: the
// partial directory exists (local), an upload is in progress (s3).
func waitCopying(t *testing.T, kind, localDst string, remote *s3.Backend) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if kind == "local" {
			if m, _ := filepath.Glob(filepath.Join(localDst, pack.PartialPrefix+"*", "volumes", "*")); len(m) > 0 {
				return
			}
			continue
		}
		if n, _ := remote.Uploads(MustCtx(t)); n > 0 {
			time.Sleep(300 * time.Millisecond) // some parts on the way
			return
		}
	}
	t.Fatal("the copy did not start within 20s")
}
