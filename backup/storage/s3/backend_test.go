package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestConditionalWritesDetected(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "cond")
	b := srv.Backend(t, bucket, "p")
	ok, err := b.ConditionalWrites(ctx(t))
	if err != nil || !ok {
		t.Fatalf("ConditionalWrites = %v, %v; versitygw honours If-None-Match", ok, err)
	}
	if n, err := b.Uploads(ctx(t)); err != nil || n != 0 {
		t.Errorf("the probe left %d uploads (%v)", n, err)
	}
	var left []string
	_ = filepath.WalkDir(filepath.Join(srv.Dir, bucket), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("the probe left objects: %v", left)
	}
}

// TestSecretsNeverShown: Location, String, errors of every kind and the
// validation never carry the secret key.
func TestSecretsNeverShown(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "secret")
	wrong := srv.Backend(t, bucket, "p", func(o *s3.Options) { o.SecretAccessKey = "wrong-" + srv.Secret })
	_, werr := storage.WriteObject(ctx(t), wrong, "x", strings.NewReader("x"), storage.CreateOptions{})
	missing := srv.Backend(t, "no-such-bucket", "p")
	cerr := missing.Check(ctx(t))
	o := srv.Options(bucket, "p")
	o.SessionToken = "session-token-value"
	_, verr := s3.Open(ctx(t), s3.Options{Bucket: "Bad_Bucket", AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey, Endpoint: "http://user:" + srv.Secret + "@127.0.0.1:1"})
	for _, s := range []string{wrong.Location(), o.String(), werr.Error(), cerr.Error(), verr.Error()} {
		if strings.Contains(s, srv.Secret) || strings.Contains(s, "session-token-value") || strings.Contains(s, srv.Access) {
			t.Errorf("a secret or the whole access key id shows in %q", s)
		}
	}
	if got := wrong.Location(); got != "s3://"+bucket+"/p" {
		t.Errorf("Location = %q", got)
	}
	if !strings.Contains(o.String(), "secret_access_key=***") {
		t.Errorf("String = %q", o.String())
	}
}

// TestStandardEnvironment: endpoint, region and credentials from the AWS_*
// variables, and from a credentials file with a profile.
func TestStandardEnvironment(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "env")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", srv.Endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", srv.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Secret)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	b, err := s3.Open(ctx(t), s3.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx(t)); err != nil {
		t.Fatalf("with AWS_* variables: %v", err)
	}
	if b.Endpoint() != srv.Endpoint {
		t.Errorf("Endpoint = %q, want %q", b.Endpoint(), srv.Endpoint)
	}
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[backup]\naws_access_key_id = "+srv.Access+"\naws_secret_access_key = "+srv.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	b, err = s3.Open(ctx(t), s3.Options{Bucket: bucket, Profile: "backup", CredentialsFile: creds})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx(t)); err != nil {
		t.Fatalf("with a credentials file and a profile: %v", err)
	}
}

// TestCancelWithoutAbort: a canceled ctx aborts the upload even when the
// caller never calls Abort.
func TestCancelWithoutAbort(t *testing.T) {
	srv := s3test.Start(t)
	b := srv.Backend(t, srv.Bucket(t, "cancel"), "", func(o *s3.Options) { o.PartSize = s3.MinPartSize })
	c, cancel := context.WithCancel(ctx(t))
	u, err := b.Create(c, "abandoned", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(make([]byte, 3*s3.MinPartSize)); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Uploads(ctx(t)); n != 1 {
		t.Fatalf("%d uploads in progress before the cancel, want 1", n)
	}
	cancel()
	waitUploads(t, b, 0)
}

func waitUploads(t *testing.T, b *s3.Backend, want int) {
	t.Helper()
	var n int
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n, err = b.Uploads(ctx(t)); err == nil && n == want {
			return
		}
	}
	t.Fatalf("%d uploads in progress (%v), want %d", n, err, want)
}

// tamper is a proxy in front of the server that corrupts the body of every
// part upload (corruptBody) or the checksum in the server's answer
// (corruptAnswer).
type tamper struct {
	corruptBody, corruptAnswer atomic.Bool
}

func (tp *tamper) start(t *testing.T, target string) string {
	u, _ := url.Parse(target)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // the signature covers the host
		if r.Out.Method == http.MethodPut && r.Out.URL.Query().Get("partNumber") != "" && tp.corruptBody.Load() {
			data, _ := io.ReadAll(r.Out.Body)
			data[len(data)/2] ^= 0xff
			r.Out.Body = io.NopCloser(bytes.NewReader(data))
		}
	}}
	rp.ModifyResponse = func(resp *http.Response) error {
		if tp.corruptAnswer.Load() && resp.Request.URL.Query().Get("partNumber") != "" && resp.Header.Get("X-Amz-Checksum-Crc32c") != "" {
			resp.Header.Set("X-Amz-Checksum-Crc32c", "AAAAAA==")
		}
		return nil
	}
	ts := httptest.NewServer(rp)
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestPartChecksums: a part corrupted on the way is refused by the server
// (Content-MD5 and CRC32C), a checksum answered wrong is caught by us;
// either way the upload fails with ErrChecksum and leaves nothing.
func TestPartChecksums(t *testing.T) {
	srv := s3test.Start(t)
	tp := &tamper{}
	endpoint := tp.start(t, srv.Endpoint)
	b := srv.Backend(t, srv.Bucket(t, "sums"), "", func(o *s3.Options) { o.Endpoint = endpoint; o.PartSize = s3.MinPartSize })
	data := make([]byte, 2*s3.MinPartSize+10)
	for _, flag := range []*atomic.Bool{&tp.corruptBody, &tp.corruptAnswer} {
		flag.Store(true)
		_, err := storage.WriteObject(ctx(t), b, "obj", bytes.NewReader(data), storage.CreateOptions{})
		flag.Store(false)
		t.Logf("upload through the tampering proxy: %v", err)
		if !errors.Is(err, s3.ErrChecksum) {
			t.Errorf("error %v, want ErrChecksum", err)
		}
		if _, err := b.Stat(ctx(t), "obj"); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("after a checksum failure Stat: %v", err)
		}
		waitUploads(t, b, 0)
	}
	if _, err := storage.WriteObject(ctx(t), b, "obj", bytes.NewReader(data), storage.CreateOptions{}); err != nil {
		t.Fatalf("untampered: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]s3.Options{
		"bucket":      {Bucket: "B"},
		"part size":   {Bucket: "bkt", PartSize: 1 << 20},
		"checksum":    {Bucket: "bkt", Checksum: "md4"},
		"exclusive":   {Bucket: "bkt", Exclusive: "maybe"},
		"claim wait":  {Bucket: "bkt", ClaimWait: time.Second},
		"endpoint":    {Bucket: "bkt", Endpoint: "ftp://x"},
		"half a key":  {Bucket: "bkt", AccessKeyID: "AKIA"},
		"owner":       {Bucket: "bkt", Owner: "höst"},
		"prefix":      {Bucket: "bkt", Prefix: "a/../b"},
		"concurrency": {Bucket: "bkt", Concurrency: -1},
	} {
		if _, err := s3.Open(context.Background(), o); err == nil {
			t.Errorf("%s: Open accepted %+v", name, o)
		}
	}
}

// TestMemoryBudget: uploads running at once through a backend whose
// Memory is two parts all complete intact (the budget makes them take
// turns; none waits for ever on buffers held by the others).
func TestMemoryBudget(t *testing.T) {
	srv := s3test.Start(t)
	b := srv.Backend(t, srv.Bucket(t, "budget"), "", func(o *s3.Options) { o.PartSize, o.Memory = s3.MinPartSize, 2*s3.MinPartSize })
	const uploads = 5
	size := 2*s3.MinPartSize + 12345
	errs := make(chan error, uploads)
	for i := range uploads {
		go func() {
			data := bytes.Repeat([]byte{byte('a' + i)}, size)
			u, err := b.Create(ctx(t), fmt.Sprintf("obj%d", i), storage.CreateOptions{SizeHint: int64(size)})
			if err == nil {
				for off := 0; off < size && err == nil; off += 100 << 10 {
					_, err = u.Write(data[off:min(off+100<<10, size)])
				}
			}
			if err == nil {
				_, err = u.Commit(ctx(t))
			}
			errs <- err
		}()
	}
	for range uploads {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range uploads {
		got, err := storage.ReadObject(ctx(t), b, fmt.Sprintf("obj%d", i), 1<<30)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + i)}, size)) {
			t.Errorf("obj%d: %d bytes, %v", i, len(got), err)
		}
	}
}
