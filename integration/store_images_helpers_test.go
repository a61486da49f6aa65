//go:build integration

package integration_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// siCounting is the engine of a backup, counting its ImageSave calls (it
// embeds the client, so it tells images' layers too).
type siCounting struct {
	*dockerapi.Client
	mu    sync.Mutex
	saves [][]string
}

func (c *siCounting) SaveImages(ctx context.Context, refs []string, w io.Writer) (dockerapi.SaveResult, error) {
	c.mu.Lock()
	c.saves = append(c.saves, append([]string(nil), refs...))
	c.mu.Unlock()
	return c.Client.SaveImages(ctx, refs, w)
}

func (c *siCounting) Saves() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string(nil), c.saves...)
}

// siRandom is n random bytes from a seed.
func siRandom(seed string, n int) []byte {
	h := sha256.Sum256([]byte(seed))
	r := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// siBuild builds ref FROM base with one file of size random bytes (seeded
// by seed) at /data/<name> — `docker build` through the Engine API (the
// classic builder) — labelled, removed in t.Cleanup. Returns the image ID.
func siBuild(t testing.TB, cli *dockertest.Client, base, ref, name string, size int, seed string) string {
	t.Helper()
	dockerfile := fmt.Sprintf("FROM %s\nCOPY %s /data/%s\n", base, name, name)
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		data []byte
	}{{"Dockerfile", []byte(dockerfile)}, {name, siRandom(seed, size)}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(1764900000, 0)})
		tw.Write(f.data)
	}
	tw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true, NoCache: true,
		Labels: map[string]string{dockertest.Label: "1", dockertest.OwnerLabel: dockertest.Owner}, Version: build.BuilderV1})
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m struct {
			Error string `json:"error"`
		}
		if dec.Decode(&m) != nil {
			break
		}
		if m.Error != "" {
			t.Fatalf("build %s: %s", ref, m.Error)
		}
	}
	ii, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("build %s: %v\n%s", ref, err, out)
	}
	t.Cleanup(func() { siRemoveImage(cli, ii.ID) })
	return ii.ID
}

// siRemoveImage removes an image (gone already is fine).
func siRemoveImage(cli *dockertest.Client, ref string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "no such image") {
		return nil
	}
	return err
}

// siImagesTar is ImageSave's path.
var siImagesGet = regexp.MustCompile(`/images/get$`)

// siFlipProxy is an Engine API endpoint in front of the engine's socket
// that flips one byte in the middle of the first layer.tar larger than
// 64 KiB of every ImageSave answer — the tar structure stays intact, the
// layer no longer matches its DiffID. It returns its DOCKER_HOST and the
// number of bytes it flipped.
func siFlipProxy(t testing.TB) (string, *atomic.Int32) {
	t.Helper()
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		sock = strings.TrimPrefix(h, "unix://")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flips := &atomic.Int32{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker" },
		Transport: &http.Transport{DisableCompression: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if siImagesGet.MatchString(resp.Request.URL.Path) {
				resp.Body = &siFlipper{r: resp.Body, flips: flips, target: -1}
			}
			return nil
		},
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "tcp://" + ln.Addr().String(), flips
}

// siFlipper walks a tar stream's headers as it passes and flips the byte
// in the middle of the first layer.tar entry larger than 64 KiB.
type siFlipper struct {
	r      io.ReadCloser
	flips  *atomic.Int32
	hdr    []byte
	off    int64 // data bytes of the current entry passed (padding included)
	padded int64 // the current entry's data with padding (0: reading a header)
	target int64 // offset in the current entry to flip (-1: none)
	done   bool
}

func (f *siFlipper) Close() error { return f.r.Close() }

func (f *siFlipper) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	b := p[:n]
	for len(b) > 0 && !f.done {
		if f.padded == 0 {
			k := min(len(b), 512-len(f.hdr))
			f.hdr = append(f.hdr, b[:k]...)
			b = b[k:]
			if len(f.hdr) == 512 {
				f.header()
				f.hdr = f.hdr[:0]
			}
			continue
		}
		k := min(int64(len(b)), f.padded-f.off)
		if f.target >= f.off && f.target < f.off+k {
			b[f.target-f.off] ^= 0xff
			f.done = true
			f.flips.Add(1)
		}
		f.off += k
		b = b[k:]
		if f.off == f.padded {
			f.padded, f.off, f.target = 0, 0, -1
		}
	}
	return n, err
}

// header parses a USTAR header: name, size, type.
func (f *siFlipper) header() {
	h := f.hdr
	name := strings.TrimRight(string(h[0:100]), "\x00")
	if prefix := strings.TrimRight(string(h[345:500]), "\x00"); string(h[257:262]) == "ustar" && prefix != "" {
		name = prefix + "/" + name
	}
	size, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimRight(string(h[124:136]), "\x00 ")), 8, 64)
	f.padded = (size + 511) / 512 * 512
	f.target = -1
	if (h[156] == '0' || h[156] == 0) && strings.HasSuffix(name, "layer.tar") && size > 64<<10 {
		f.target = size / 2
	}
}

// siTargetBytes is what the target holds: every regular file's size.
func siTargetBytes(target string) int64 {
	var n int64
	filepath.Walk(target, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// siImageFiles lists a store pack's image files that added data.
func siNewImageFiles(m *pack.Manifest) []string {
	var out []string
	for _, f := range m.Files {
		if (f.Kind == pack.FileImageConfig || f.Kind == pack.FileImageLayer) && f.Chunks != nil && f.Chunks.NewRawBytes > 0 {
			out = append(out, f.Path)
		}
	}
	return out
}

// siStack is a compose project of two images built FROM the test app
// image (b FROM a, so they share layers), a container of each, a volume
// with a few files, and a SQLite database.
type siStack struct {
	cli      *dockertest.Client
	eng      *siCounting
	project  string
	base     string
	refs     []string // a, b
	ids      []string
	ctrs     []string
	volume   string
	db       string
	target   string
	volSum   string
	imgBytes int
}

func siNewStack(t testing.TB, imgBytes int, targetBytes int64) *siStack {
	t.Helper()
	cli := dockertest.MustClient(t)
	s := &siStack{cli: cli, eng: &siCounting{Client: MustEngine(t)}, project: rsProject(), imgBytes: imgBytes}
	s.base = "dockpack-test/" + s.project + "-base:1"
	dockertest.MustTestAppImage(t, cli, s.base)
	from := s.base
	for i, svc := range []string{"a", "b"} {
		ref := "dockpack-test/" + s.project + "-" + svc + ":1"
		s.refs = append(s.refs, ref)
		s.ids = append(s.ids, siBuild(t, cli, from, ref, svc+".bin", imgBytes/(i+1), s.project+svc))
		from = ref
	}
	s.volume = rsVolume(t, cli, s.project, "data")
	rsForget(t, cli, s.volume)
	rsFill(t, s.eng.Client, s.volume, s.base, 1<<20)
	for i, svc := range []string{"a", "b"} {
		s.ctrs = append(s.ctrs, s.container(t, svc, s.refs[i], i == 0))
	}
	s.volSum, _ = rsDigest(t, cli, s.volume, s.base)
	s.db = rsDB(t)
	s.target = MustTmpfs(t, targetBytes)
	return s
}

// container creates (never starts) a service's container.
func (s *siStack) container(t testing.TB, svc, ref string, mountVolume bool) string {
	spec := dockertest.ContainerSpec{Name: s.project + "_" + svc + "_" + strconv.Itoa(int(time.Now().UnixNano()%1e6)), Image: ref,
		Labels: dockertest.ComposeLabels(s.project, svc, 1)}
	if mountVolume {
		spec.Mounts = []dockertest.Mount{{Type: "volume", Source: s.volume, Target: "/data"}}
	}
	return dockertest.MustContainer(t, s.cli, spec)
}

func (s *siStack) spec(t testing.TB, eng backup.Engine) backup.Spec {
	return backup.Spec{Engine: eng, Project: s.project, Target: s.target, Policy: tmpfsPolicy, SQLitePath: s.db, StagingDir: t.TempDir(),
		Format: backup.FormatStore}
}

func (s *siStack) backup(t testing.TB) *backup.Result {
	t.Helper()
	res, err := backup.Run(MustCtx(t), s.spec(t, s.eng), nil)
	if err != nil {
		t.Fatalf("store backup: %v", err)
	}
	return res
}
