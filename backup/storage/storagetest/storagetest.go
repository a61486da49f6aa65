// Package storagetest is the conformance suite every storage.Backend runs
// (as restic's backend tests are for its backends).
//
// A backend's test calls Run with a function that opens a fresh, empty
// target and with Options saying what the backend can show and how the
// suite may hurt it:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Backend {
//			return openOnTempDir(t) // empty, closed in t.Cleanup
//		}, storagetest.Options{Pending: countTempFiles})
//	}
//
// Every hook in Options is optional; a test whose hook is missing is
// skipped and says so. The large-stream test runs only when Options.Large
// or $DOCKPACK_STORAGE_LARGE (bytes, or with a KiB/MiB/GiB suffix) asks
// for it. Subtests run one after another (some stop the service).
//
// Test support: imported by tests only.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage"
)

// Options say what the backend under test does and how to hurt it.
type Options struct {
	// PartSize is the size at which the backend's uploads start going in
	// parts (S3: its part size); the stream tests cross it a few times.
	// Default 5 MiB.
	PartSize int64
	// Large is the size of the large-stream test (≥ 1 GiB makes it the
	// issue's). 0: $DOCKPACK_STORAGE_LARGE, else the test is skipped.
	Large int64
	// KeepsMeta: Stat's Info.Meta holds CreateOptions.Meta.
	KeepsMeta bool
	// Pending counts b's uploads in progress (S3: multipart uploads;
	// local: temporary files), for the "no upload left" checks.
	Pending func(ctx context.Context, b storage.Backend) (int, error)
	// Reopen opens b's target again as a backend writing as owner
	// (AbortStale's test).
	Reopen func(t *testing.T, b storage.Backend, owner string) storage.Backend
	// WrongCredentials opens b's target with credentials the service refuses.
	WrongCredentials func(t *testing.T, b storage.Backend) storage.Backend
	// Missing opens a target that does not exist (a bucket never made, a
	// directory not there); an error from opening it is a pass too.
	Missing func(t *testing.T) (storage.Backend, error)
	// Kill stops the service behind the backends at once (as kill -9
	// would) and Resume brings it back (the "server killed mid-upload" test).
	Kill, Resume func(t *testing.T)
	// Full opens a backend on storage with about FullFree bytes free (a
	// small tmpfs behind the server) for the "full disk" test.
	Full     func(t *testing.T) storage.Backend
	FullFree int64
}

func (o *Options) applyDefaults() {
	if o.PartSize == 0 {
		o.PartSize = 5 << 20
	}
	if o.Large == 0 {
		o.Large, _ = ParseSize(os.Getenv("DOCKPACK_STORAGE_LARGE"))
	}
}

// Run runs the conformance suite. newBackend opens a fresh, empty target
// (and closes it in t.Cleanup).
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend, o Options) {
	o.applyDefaults()
	s := &suite{o: o, newBackend: newBackend}
	for _, c := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"PutGet", s.putGet},
		{"Empty", s.empty},
		{"Overwrite", s.overwrite},
		{"InvisibleUntilCommit", s.invisible},
		{"Ranges", s.ranges},
		{"List", s.list},
		{"Remove", s.remove},
		{"InvalidKeys", s.invalidKeys},
		{"Exclusive", s.exclusive},
		{"ExclusiveRace", s.exclusiveRace},
		{"Stream", s.stream},
		{"ConcurrentWriters", s.concurrentWriters},
		{"Abort", s.abort},
		{"CancelMidUpload", s.cancelMidUpload},
		{"AbortStale", s.abortStale},
		{"LargeStream", s.large},
		{"WrongCredentials", s.wrongCredentials},
		{"MissingTarget", s.missing},
		{"ServerKilledMidUpload", s.serverKilled},
		{"FullDisk", s.fullDisk},
	} {
		t.Run(c.name, c.fn)
	}
}

type suite struct {
	o          Options
	newBackend func(t *testing.T) storage.Backend
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// put writes data under key and fails the test on an error.
func put(t *testing.T, b storage.Backend, key string, data []byte, o storage.CreateOptions) storage.Info {
	t.Helper()
	info, err := storage.WriteObject(ctxFor(t), b, key, bytes.NewReader(data), o)
	if err != nil {
		t.Fatalf("writing %s: %v", key, err)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("Commit of %s says %d bytes, wrote %d", key, info.Size, len(data))
	}
	return info
}

// get reads the whole object under key.
func get(t *testing.T, b storage.Backend, key string) []byte {
	t.Helper()
	rc, err := b.Open(ctxFor(t), key, 0, -1)
	if err != nil {
		t.Fatalf("opening %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return data
}

// absent checks that nothing is visible under key.
func absent(t *testing.T, b storage.Backend, key string) {
	t.Helper()
	ctx := ctxFor(t)
	if info, err := b.Stat(ctx, key); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat(%s) = %+v, %v; want ErrNotExist", key, info, err)
	}
	if rc, err := b.Open(ctx, key, 0, -1); !errors.Is(err, storage.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Open(%s) error %v; want ErrNotExist", key, err)
	}
	if keys := keys(t, b, key); len(keys) > 0 {
		t.Errorf("List(%s) = %v; want nothing", key, keys)
	}
}

// keys lists the keys under prefix.
func keys(t *testing.T, b storage.Backend, prefix string) []string {
	t.Helper()
	var out []string
	if err := b.List(ctxFor(t), prefix, func(i storage.Info) error { out = append(out, i.Key); return nil }); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return out
}

// noPending checks, within a few seconds, that b has no upload in progress.
func (s *suite) noPending(t *testing.T, b storage.Backend) {
	t.Helper()
	if s.o.Pending == nil {
		return
	}
	var n int
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n, err = s.o.Pending(ctxFor(t), b); err == nil && n == 0 {
			return
		}
	}
	t.Errorf("%d uploads still in progress (err %v); want none", n, err)
}

// randomData is n deterministic pseudo-random bytes.
func randomData(seed uint64, n int64) []byte {
	data := make([]byte, n)
	_, _ = rand.NewChaCha8(seedOf(seed)).Read(data)
	return data
}

func seedOf(seed uint64) [32]byte {
	var s [32]byte
	copy(s[:], strconv.FormatUint(seed, 16))
	return s
}

// Stream is n pseudo-random bytes from seed, read in chunks of odd sizes;
// its Sum is known once read.
type Stream struct {
	r    *rand.ChaCha8
	left int64
	h    hashWriter
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// NewStream returns a stream of n bytes.
func NewStream(seed uint64, n int64) *Stream {
	return &Stream{r: rand.NewChaCha8(seedOf(seed)), left: n, h: sha256.New()}
}

func (s *Stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, _ := s.r.Read(p)
	s.h.Write(p[:n])
	s.left -= int64(n)
	return n, nil
}

// Sum is the hex SHA-256 of what was read.
func (s *Stream) Sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

// sumOf reads the object under key and returns its hex SHA-256 and size.
func sumOf(t *testing.T, b storage.Backend, key string) (string, int64) {
	t.Helper()
	rc, err := b.Open(ctxFor(t), key, 0, -1)
	if err != nil {
		t.Fatalf("opening %s: %v", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// ParseSize parses "1073741824", "1GiB", "512MiB", "64KiB" ("" is 0).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: a number of bytes, or with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}
