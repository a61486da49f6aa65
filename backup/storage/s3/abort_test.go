package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
)

// latePart is a proxy in front of the server that forwards every part
// upload it receives in full except its last bytes, which it holds until an
// abort of the upload has been answered — a part whose client gave up
// (canceled) while the server was already receiving it, landing after the
// abort.
type latePart struct {
	held    atomic.Int32
	aborted chan struct{} // closed once the server answered an abort
	once    sync.Once
	landed  sync.WaitGroup
}

func (lp *latePart) start(t *testing.T, target string) string {
	u, _ := url.Parse(target)
	lp.aborted = make(chan struct{})
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // the signature covers the host
	}}
	rp.Transport = roundTrip(func(req *http.Request) (*http.Response, error) {
		q := req.URL.Query()
		switch {
		case req.Method == http.MethodPut && q.Get("partNumber") != "":
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, err
			}
			late := req.Clone(context.WithoutCancel(req.Context()))
			tail := len(body) - 1024
			late.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:tail]), lp.after(body[tail:])))
			lp.held.Add(1)
			lp.landed.Add(1)
			go func() {
				defer lp.landed.Done()
				if resp, err := http.DefaultTransport.RoundTrip(late); err == nil {
					resp.Body.Close()
				}
			}()
			<-req.Context().Done() // the client gives up before any answer
			return nil, req.Context().Err()
		case req.Method == http.MethodDelete && q.Get("uploadId") != "":
			resp, err := http.DefaultTransport.RoundTrip(req)
			lp.once.Do(func() { close(lp.aborted) })
			return resp, err
		}
		return http.DefaultTransport.RoundTrip(req)
	})
	ts := httptest.NewServer(rp)
	t.Cleanup(func() { lp.once.Do(func() { close(lp.aborted) }); lp.landed.Wait(); ts.Close() })
	return ts.URL
}

// after reads as data once an abort has been answered.
func (lp *latePart) after(data []byte) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		<-lp.aborted
		n := copy(p, data)
		if data = data[n:]; n == 0 {
			return 0, io.EOF
		}
		return n, nil
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAbortOutlivesLateParts: an upload canceled while its parts are on
// their way is aborted; the parts land at the server after the abort and
// bring the upload back (versitygw recreates it when the key has another
// upload in progress, as S3 may); Abort watches it settle and aborts it
// again, so no upload of ours is left in progress.
func TestAbortOutlivesLateParts(t *testing.T) {
	srv := s3test.Start(t)
	lp := &latePart{}
	endpoint := lp.start(t, srv.Endpoint)
	bucket := srv.Bucket(t, "late")
	b := srv.Backend(t, bucket, "", func(o *s3.Options) {
		o.Endpoint = endpoint
		o.PartSize = s3.MinPartSize
		o.AbortSettle = time.Second
	})
	// Another writer's upload of the same key (straight to the server), in
	// progress throughout.
	ob := srv.Backend(t, bucket, "", func(o *s3.Options) { o.PartSize = s3.MinPartSize })
	other, err := ob.Create(ctx(t), "late.tar", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Abort(context.Background()) })
	if _, err := other.Write(make([]byte, s3.MinPartSize+1)); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx(t))
	u, err := b.Create(cctx, "late.tar", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(make([]byte, 2*s3.MinPartSize+100)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); lp.held.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no part reached the proxy")
		}
	}
	cancel()
	if err := u.Abort(context.Background()); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	lp.landed.Wait()
	t.Logf("%d part requests held and delivered after the abort", lp.held.Load())
	if n, err := b.Uploads(ctx(t)); err != nil || n != 1 {
		t.Errorf("after Abort: %d uploads in progress (%v); want the other writer's only", n, err)
	}
	if err := other.Abort(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Uploads(ctx(t)); err != nil || n != 0 {
		t.Errorf("after both aborts: %d uploads in progress (%v); want none", n, err)
	}
	if _, err := b.Stat(ctx(t), "late.tar"); err == nil {
		t.Error("the aborted object exists")
	}
}
