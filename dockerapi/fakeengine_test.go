package dockerapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// fakeEngine is an httptest server speaking just enough of the Engine API
// for the failures a real engine cannot produce on demand.
type fakeEngine struct {
	t   testing.TB
	api string // API version the engine reports
	mux *http.ServeMux
	srv *httptest.Server

	mu    sync.Mutex
	calls []string // "METHOD /path" without the version prefix
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

func newFakeEngine(t testing.TB, api string) *fakeEngine {
	f := &fakeEngine{t: t, api: api, mux: http.NewServeMux()}
	f.handle("GET /_ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	f.handle("HEAD /_ping", func(w http.ResponseWriter, r *http.Request) {})
	f.handle("GET /info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"ServerVersion": "99.0.0-fake", "Driver": "overlay2", "OSType": "linux",
			"Architecture": "x86_64", "DockerRootDir": "/var/lib/docker", "Name": "fake"})
	})
	f.handle("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"Version": "99.0.0-fake", "ApiVersion": f.api, "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"})
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = versionPrefix.ReplaceAllString(r.URL.Path, "")
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		w.Header().Set("Api-Version", f.api)
		w.Header().Set("Ostype", "linux")
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEngine) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

func (f *fakeEngine) called(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// client connects a dockerapi.Client to the fake.
func (f *fakeEngine) client(t testing.TB) *dockerapi.Client {
	t.Helper()
	c, err := dockerapi.New(context.Background(), dockerapi.Options{
		Host:       "tcp://" + f.srv.Listener.Addr().String(),
		HTTPClient: f.srv.Client(),
	})
	if err != nil {
		t.Fatalf("connect to the fake engine: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// pathStatHeader is the X-Docker-Container-Path-Stat header of a directory.
func pathStatHeader(name string) string {
	b, _ := json.Marshal(map[string]any{"name": name, "size": 4096, "mode": uint32(1<<31 | 0o755), "mtime": "2024-01-01T00:00:00Z", "linkTarget": ""})
	return base64.StdEncoding.EncodeToString(b)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// legacyImageArchive builds a small archive in the layout `docker save`
// of a graph-driver engine emits, with manifest.json near the end.
func legacyImageArchive(t testing.TB, tag string) (archive []byte, configDigest string) {
	t.Helper()
	layer := dockertest.MustTar(t, dockertest.TarEntry{Name: "hello.txt", Body: []byte(strings.Repeat("hello\n", 400))})
	diffID := "sha256:" + sha256hex(layer)
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%q]}}`, diffID))
	cfgHex := sha256hex(cfg)
	v1 := sha256hex(append([]byte("v1"), layer...))
	repo, tg, _ := strings.Cut(tag, ":")
	manifest := fmt.Sprintf(`[{"Config":"%s.json","RepoTags":[%q],"Layers":["%s/layer.tar"]}]`, cfgHex, tag, v1)
	repositories := fmt.Sprintf(`{%q:{%q:%q}}`, repo, tg, v1)
	archive = dockertest.MustTar(t,
		dockertest.TarEntry{Name: v1 + "/", Mode: 0o755},
		dockertest.TarEntry{Name: v1 + "/VERSION", Body: []byte("1.0")},
		dockertest.TarEntry{Name: v1 + "/json", Body: []byte(`{"id":"` + v1 + `"}`)},
		dockertest.TarEntry{Name: v1 + "/layer.tar", Body: layer},
		dockertest.TarEntry{Name: cfgHex + ".json", Body: cfg},
		dockertest.TarEntry{Name: "manifest.json", Body: []byte(manifest)},
		dockertest.TarEntry{Name: "repositories", Body: []byte(repositories)},
	)
	return archive, "sha256:" + cfgHex
}
