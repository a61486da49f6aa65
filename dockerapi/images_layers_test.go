package dockerapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dockpack/dockpack/dockerapi"
)

// containerdEngine is an Engine API endpoint that reports the containerd
// image store (the real test engine cannot switch) and counts the image
// requests it gets.
func containerdEngine(t *testing.T) (*dockerapi.Client, *atomic.Int32) {
	t.Helper()
	images := &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := versionPrefix.ReplaceAllString(r.URL.Path, "")
		w.Header().Set("Api-Version", "1.47")
		switch {
		case p == "/_ping":
			w.Write([]byte("OK"))
		case p == "/version":
			writeJSON(w, map[string]any{"Version": "27.5.1", "ApiVersion": "1.47", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"})
		case p == "/info":
			writeJSON(w, map[string]any{"ServerVersion": "27.5.1", "Driver": "overlayfs", "OSType": "linux", "Architecture": "x86_64",
				"DriverStatus": [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}})
		case strings.HasPrefix(p, "/images"):
			images.Add(1)
			writeJSON(w, []any{})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := dockerapi.New(context.Background(), dockerapi.Options{Host: "tcp://" + srv.Listener.Addr().String(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, images
}

// On the containerd image store an image's layers and the engine's layer
// chains are ErrUnsupported (images by layer need the graph-driver store),
// said before any image is inspected.
func TestImageLayersContainerd(t *testing.T) {
	c, images := containerdEngine(t)
	ctx := context.Background()
	if ei, err := c.Info(ctx); err != nil || ei.ImageStore != dockerapi.ImageStoreContainerd {
		t.Fatalf("info: %+v %v", ei, err)
	}
	_, err := c.ImageLayers(ctx, "demo/app:1")
	if !errors.Is(err, dockerapi.ErrUnsupported) || !strings.Contains(err.Error(), "graph-driver image store") {
		t.Fatalf("ImageLayers: %v", err)
	}
	if _, err := c.LayerChains(ctx); !errors.Is(err, dockerapi.ErrUnsupported) {
		t.Fatalf("LayerChains: %v", err)
	}
	if n := images.Load(); n != 0 {
		t.Fatalf("%d image requests before the refusal", n)
	}
}
