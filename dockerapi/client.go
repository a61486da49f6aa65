package dockerapi

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"github.com/dockpack/dockpack/internal/owner"
	"go.uber.org/zap"
)

// Options configures New. The zero value is valid: everything comes from the
// environment like the docker CLI (DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH, DOCKER_API_VERSION).
type Options struct {
	// Host overrides DOCKER_HOST ("unix:///var/run/docker.sock",
	// "tcp://10.0.0.5:2376"). Default: DOCKER_HOST, else the local socket.
	Host string
	// HTTPClient replaces the SDK's HTTP client (tests point it at an
	// httptest engine). Default: the SDK's own, configured from the
	// environment.
	HTTPClient *http.Client
	// Logger receives debug/warn logs. Default: zap.NewNop().
	Logger *zap.Logger
	// RestartTimeout bounds the fresh context the undo of StopContainers
	// uses to start containers again (it runs after the caller's context may
	// have been canceled). Default: 2 minutes.
	RestartTimeout time.Duration
	// CleanupTimeout bounds the fresh context used to remove helper
	// containers and images after an operation, even a canceled one.
	// Default: 30 seconds.
	CleanupTimeout time.Duration
	// Owner is the process on whose behalf helper containers and images are
	// created: they carry its identity as labels (owner.Identity.Labels) and
	// its tag in their names, so that RemoveStaleHelpers can remove what a
	// crashed owner left. Default: this process with a fresh token.
	Owner owner.Identity
	// BeforeCreate, when set, is called right before a helper container or
	// image is created (kind "container" or "image", and its name); tests
	// use it to cancel or kill at that instant.
	BeforeCreate func(ctx context.Context, kind, name string)
}

// Defaults for Options.
const (
	DefaultRestartTimeout = 2 * time.Minute
	DefaultCleanupTimeout = 30 * time.Second
)

func (o *Options) applyDefaults() {
	if o.Owner.Token == "" {
		o.Owner = owner.Self("")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.RestartTimeout == 0 {
		o.RestartTimeout = DefaultRestartTimeout
	}
	if o.CleanupTimeout == 0 {
		o.CleanupTimeout = DefaultCleanupTimeout
	}
}

// Validate reports unusable options.
func (o Options) Validate() error {
	if o.Host != "" {
		if _, err := client.ParseHostURL(o.Host); err != nil {
			return fmt.Errorf("%w: Options.Host %q is not a docker host URL (want unix:///path or tcp://host:port): %v",
				ErrInvalidArgument, o.Host, err)
		}
	}
	if o.RestartTimeout < 0 || o.CleanupTimeout < 0 {
		return fmt.Errorf("%w: Options timeouts must not be negative (RestartTimeout %v, CleanupTimeout %v)",
			ErrInvalidArgument, o.RestartTimeout, o.CleanupTimeout)
	}
	return nil
}

// Client talks to one Docker Engine. It is safe for concurrent use.
type Client struct {
	cli  *client.Client
	host string
	log  *zap.Logger
	opts Options

	mu   sync.Mutex
	info *EngineInfo // cached by engineInfo
}

// New connects to the engine and negotiates the API version with a ping.
// An engine that does not answer gives an error wrapping
// ErrEngineUnreachable that names the host and the cause.
func New(ctx context.Context, o Options) (*Client, error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil {
		// Like the SDK's default client, but without transparent gzip: the
		// engine compresses archive answers (volume exports) for clients that
		// accept it, which costs engine CPU and caps throughput for no gain on
		// a local socket. The environment options below configure its dialer
		// and TLS.
		hc = &http.Client{
			Transport: &http.Transport{
				DisableCompression: true,
				MaxIdleConns:       6,
				IdleConnTimeout:    30 * time.Second,
			},
			CheckRedirect: client.CheckRedirect,
		}
	}
	base := hc.Transport
	copts := []client.Opt{client.WithHTTPClient(hc), client.FromEnv, client.WithAPIVersionNegotiation()}
	host := o.Host
	if host == "" {
		host = os.Getenv(client.EnvOverrideHost)
	}
	if host == "" {
		host = client.DefaultDockerHost
	}
	// WithHost also configures the transport's dialer for the host's scheme.
	copts = append(copts, client.WithHost(host))
	cli, err := client.NewClientWithOpts(copts...)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot configure a docker client (check DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH): %v",
			ErrEngineUnreachable, err)
	}
	// The SDK wraps the transport in otelhttp's tracing transport, whose
	// request-body wrapper has only Read: every upload (an image load, a
	// volume import) then reaches the connection in 32 KiB reads, each
	// copied and written as its own chunk (three write syscalls). dockpack
	// traces nothing: the transport is used as configured (WithHost and
	// FromEnv set it up in place), so a body's WriteTo writes its blocks
	// (an image load's 1 MiB blocks, aheadReader). Measured (7 rounds):
	// dockpack's CPU for restoring 2 GiB of images from the store fell
	// from 3.2–4.3 s to 2.0–3.0 s, for a classic 1 GiB images.tar from
	// 1.1–1.6 s to 0.57–0.77 s (`docker load -i`: 0.84–1.27 s).
	if base != nil {
		hc.Transport = base
	}
	c := &Client{cli: cli, host: cli.DaemonHost(), log: o.Logger, opts: o}
	if err := c.Ping(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	c.log.Debug("docker engine reachable", zap.String("host", c.host), zap.String("api", cli.ClientVersion()))
	return c, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error { return c.cli.Close() }

// Host is the engine address the client talks to.
func (c *Client) Host() string { return c.host }

// Ping checks that the engine answers and negotiates the API version.
func (c *Client) Ping(ctx context.Context) error {
	p, err := c.cli.Ping(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ping docker engine at %s: %w", c.host, ctx.Err())
		}
		return fmt.Errorf("%w: no answer from the docker engine at %s (is dockerd running and is the socket mounted/permitted? set DOCKER_HOST to point elsewhere): %v",
			ErrEngineUnreachable, c.host, err)
	}
	c.cli.NegotiateAPIVersionPing(p)
	return nil
}

// APIVersion is the API version negotiated with the engine.
func (c *Client) APIVersion() string { return c.cli.ClientVersion() }

// apiAtLeast reports whether the negotiated API version is ≥ v.
func (c *Client) apiAtLeast(v string) bool {
	return versions.GreaterThanOrEqualTo(c.cli.ClientVersion(), v)
}

// Image stores, see EngineInfo.ImageStore.
const (
	ImageStoreContainerd  = "containerd"
	ImageStoreGraphDriver = "graphdriver"
)

// EngineInfo describes the engine; it goes into the pack's manifest.
type EngineInfo struct {
	Version          string // engine version, "20.10.24+dfsg1"
	APIVersion       string // the engine's API version, "1.41"
	MinAPIVersion    string // the oldest API version the engine accepts
	ClientAPIVersion string // the version this client negotiated (≤ APIVersion)
	StorageDriver    string // "overlay2", "fuse-overlayfs", "overlayfs" (containerd snapshotter) …
	ImageStore       string // ImageStoreContainerd or ImageStoreGraphDriver
	DataRoot         string // the engine's data root, "/var/lib/docker"
	OS, Arch         string // "linux", "amd64" (Arch normalised to GOARCH names)
	Variant          string // CPU variant for arm ("v7"), else empty
	Name             string // engine host name
	Local            bool   // reached over a unix socket (the data root is then on this host)
}

// Info describes the engine.
func (c *Client) Info(ctx context.Context) (EngineInfo, error) {
	in, err := c.cli.Info(ctx)
	if err != nil {
		return EngineInfo{}, c.engineErr("docker info", err, nil)
	}
	v, err := c.cli.ServerVersion(ctx)
	if err != nil {
		return EngineInfo{}, c.engineErr("docker version", err, nil)
	}
	arch, variant := normalizeArch(in.Architecture)
	ei := EngineInfo{
		Version:          firstNonEmpty(v.Version, in.ServerVersion),
		APIVersion:       v.APIVersion,
		MinAPIVersion:    v.MinAPIVersion,
		ClientAPIVersion: c.cli.ClientVersion(),
		StorageDriver:    in.Driver,
		ImageStore:       imageStore(in.DriverStatus),
		DataRoot:         in.DockerRootDir,
		OS:               firstNonEmpty(in.OSType, v.Os),
		Arch:             arch,
		Variant:          variant,
		Name:             in.Name,
		Local:            strings.HasPrefix(c.host, "unix://"),
	}
	c.mu.Lock()
	c.info = &ei
	c.mu.Unlock()
	return ei, nil
}

// engineInfo returns the cached Info, fetching it once.
func (c *Client) engineInfo(ctx context.Context) (EngineInfo, error) {
	c.mu.Lock()
	ei := c.info
	c.mu.Unlock()
	if ei != nil {
		return *ei, nil
	}
	return c.Info(ctx)
}

// imageStore tells the containerd image store (snapshotters) from the
// classic graph drivers: the containerd store reports
// ["driver-type", "io.containerd.snapshotter.v1"] in DriverStatus.
func imageStore(driverStatus [][2]string) string {
	for _, kv := range driverStatus {
		if kv[0] == "driver-type" && strings.HasPrefix(kv[1], "io.containerd.snapshotter") {
			return ImageStoreContainerd
		}
	}
	return ImageStoreGraphDriver
}

// normalizeArch maps `uname -m` style names (what /info reports) to GOARCH
// names and an OCI variant.
func normalizeArch(a string) (arch, variant string) {
	switch strings.ToLower(strings.TrimSpace(a)) {
	case "x86_64", "x86-64", "amd64":
		return "amd64", ""
	case "aarch64", "arm64", "armv8", "armv8l":
		return "arm64", ""
	case "armv7l", "armv7", "armhf", "arm":
		return "arm", "v7"
	case "armv6l", "armv6", "armel":
		return "arm", "v6"
	case "armv5l", "armv5", "armv5tel":
		return "arm", "v5"
	case "i386", "i486", "i586", "i686", "x86", "386":
		return "386", ""
	case "ppc64le", "ppc64el":
		return "ppc64le", ""
	case "":
		return "", ""
	default:
		return strings.ToLower(strings.TrimSpace(a)), ""
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// cleanupContext is the fresh context used to remove helpers and restart
// containers after the caller's context may have been canceled: it keeps
// ctx's values but not its cancellation, and has its own deadline.
func cleanupContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}
