package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
)

// maxDrainBytes bounds how much of an unread or refused request body is
// read and discarded before the answer is sent: a client still sending its
// body must see the answer (413 among others), not a connection reset.
// A body announced larger than this is not read at all; the connection is
// closed after the answer (a client sending "Expect: 100-continue" then
// never sends it).
const maxDrainBytes = 32 << 20

// Codes of the handler's edge.
const (
	CodeInvalidPath = "invalid_path"
)

// edge is what every request meets first, before any routing: a path that
// is not canonical (".", ".." or empty segments, repeated slashes, no
// leading slash) is authenticated like a protected route (401 without a
// valid token) and then refused with 400 — http.ServeMux would answer it
// with a redirect to the cleaned path before authentication; a body
// announced larger than Options.MaxBodyBytes is refused with 413 (after
// authentication on protected routes); and whatever a route leaves of the
// body is drained (bounded) before the answer goes out, unless the client
// waits for a 100 Continue that the answer replaces.
func (h *handler) edge(root *http.ServeMux, authn func(http.Handler) http.Handler) http.Handler {
	badPath := authn(http.HandlerFunc(h.invalidPath))
	tooLarge := http.HandlerFunc(h.bodyTooLarge)
	protectedTooLarge := authn(tooLarge)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case expectsContinue(r) && r.Body != nil:
			// The client sends its body only after the 100 Continue the
			// server writes at the first read: drain only what a route
			// asked for (an answer written first replaces the 100).
			orig := r.Body
			bw := &bodyWatch{ReadCloser: orig}
			r.Body = bw
			defer func() {
				if r.Body = orig; bw.read.Load() {
					drain(r)
				}
			}()
		case r.ContentLength > maxDrainBytes:
			w.Header().Set("Connection", "close")
		default:
			defer drain(r)
		}
		switch {
		case !canonicalPath(r.URL.Path):
			badPath.ServeHTTP(w, r)
		case r.ContentLength > h.opts.MaxBodyBytes:
			if _, pattern := root.Handler(r); pattern == "/" {
				protectedTooLarge.ServeHTTP(w, r)
			} else {
				tooLarge.ServeHTTP(w, r)
			}
		default:
			root.ServeHTTP(w, r)
		}
	})
}

// canonicalPath reports whether p is absolute and clean: ServeMux serves
// it without redirecting. A trailing slash is kept.
func canonicalPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// expectsContinue reports whether the client waits for 100 Continue
// before it sends its body.
func expectsContinue(r *http.Request) bool {
	return r.ProtoAtLeast(1, 1) && strings.EqualFold(strings.TrimSpace(r.Header.Get("Expect")), "100-continue")
}

// bodyWatch records whether a body was read.
type bodyWatch struct {
	io.ReadCloser
	read atomic.Bool
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.ReadCloser.Read(p)
}

// drain reads and discards what is left of the body, at most maxDrainBytes.
func drain(r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		_, _ = io.CopyN(io.Discard, r.Body, maxDrainBytes)
	}
}

func (h *handler) invalidPath(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, reqErr(http.StatusBadRequest, CodeInvalidPath,
		fmt.Sprintf("the path %q is not canonical (it has . or .. segments, repeated or missing slashes): nothing is served for it", truncate(r.URL.Path, 200))))
}

func (h *handler) bodyTooLarge(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, reqErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
		fmt.Sprintf("the request body (%d bytes) is larger than the limit of %d bytes", r.ContentLength, h.opts.MaxBodyBytes)))
}
