package dockertest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultAction is what a FaultProxy does to a matching response body once
// AfterBytes of it have passed.
type FaultAction int

// Fault actions.
const (
	// Truncate ends the body cleanly (the engine's 200 answer simply stops).
	Truncate FaultAction = iota
	// Abort breaks the connection mid-body.
	Abort
	// Append writes Data after the first AfterBytes, then ends the body
	// (how the engine reports an export that failed midway).
	Append
	// Stall stops sending until the request is canceled or Release is called.
	Stall
	// Throttle passes the whole body at BytesPerSec.
	Throttle
)

// Fault describes one injected failure of the Engine API.
type Fault struct {
	Method      string         // "" = any
	Path        *regexp.Regexp // matched against the URL path without the /vX.Y prefix, e.g. ^/images/get$
	AfterBytes  int64
	Action      FaultAction
	Data        []byte
	BytesPerSec int64
}

// Common paths.
var (
	PathImageSave = regexp.MustCompile(`^/images/get$`)
	PathArchive   = regexp.MustCompile(`^/containers/[^/]+/archive$`)
)

// FaultProxy is an Engine API endpoint for tests that forwards to the real
// engine (its unix socket) and injects faults into selected responses —
// failures the real engine cannot be made to produce on demand.
type FaultProxy struct {
	srv     *httptest.Server
	mu      sync.Mutex
	faults  []Fault
	release chan struct{}
	hits    atomic.Int64
}

var apiVersionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

// NewFaultProxy starts a proxy to the engine at socket (default
// /var/run/docker.sock) and closes it in t.Cleanup.
func NewFaultProxy(t testing.TB, socket string, faults ...Fault) *FaultProxy {
	t.Helper()
	if socket == "" {
		socket = "/var/run/docker.sock"
	}
	p := &FaultProxy{faults: faults, release: make(chan struct{})}
	target, _ := url.Parse("http://docker")
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		path := apiVersionPrefix.ReplaceAllString(req.URL.Path, "")
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, f := range p.faults {
			if (f.Method == "" || strings.EqualFold(f.Method, req.Method)) && f.Path != nil && f.Path.MatchString(path) {
				p.hits.Add(1)
				resp.Body = &faultBody{rc: resp.Body, f: f, ctx: req.Context(), release: p.release}
				resp.Header.Del("Content-Length")
				resp.ContentLength = -1
				break
			}
		}
		return nil
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(func() {
		p.Release()
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// Host is the DOCKER_HOST value (tcp://127.0.0.1:port) that reaches the proxy.
func (p *FaultProxy) Host() string { return "tcp://" + p.srv.Listener.Addr().String() }

// Set replaces the faults.
func (p *FaultProxy) Set(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = faults
}

// Hits is how many responses a fault was applied to.
func (p *FaultProxy) Hits() int64 { return p.hits.Load() }

// Release lets stalled bodies continue (once).
func (p *FaultProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}

type faultBody struct {
	rc      io.ReadCloser
	f       Fault
	ctx     context.Context
	release chan struct{}
	n       int64
	fired   bool
	pending []byte
}

func (b *faultBody) Read(p []byte) (int, error) {
	if b.fired {
		if len(b.pending) > 0 {
			n := copy(p, b.pending)
			b.pending = b.pending[n:]
			return n, nil
		}
		return 0, io.EOF
	}
	if b.f.Action == Throttle {
		if len(p) > 32<<10 {
			p = p[:32<<10]
		}
		n, err := b.rc.Read(p)
		if n > 0 && b.f.BytesPerSec > 0 {
			d := time.Duration(float64(n) / float64(b.f.BytesPerSec) * float64(time.Second))
			select {
			case <-time.After(d):
			case <-b.ctx.Done():
				return 0, b.ctx.Err()
			}
		}
		return n, err
	}
	if left := b.f.AfterBytes - b.n; int64(len(p)) > left {
		p = p[:left]
	}
	if len(p) == 0 {
		return b.fire()
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *faultBody) fire() (int, error) {
	b.fired = true
	switch b.f.Action {
	case Truncate:
		return 0, io.EOF
	case Abort:
		return 0, io.ErrUnexpectedEOF
	case Append:
		b.pending = append([]byte(nil), b.f.Data...)
		b.fired = true
		return 0, nil
	case Stall:
		select {
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		case <-b.release:
			b.fired = false
			b.f.AfterBytes = 1 << 62
			return 0, nil
		}
	}
	return 0, io.EOF
}

func (b *faultBody) Close() error { return b.rc.Close() }
