package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/webhook"
)

// whReceiver is an httptest server recording webhook requests; answer
// decides each response (attempt counts from 1 per delivery id).
type whReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []whRequest
	attempts map[string]int
	answer   func(attempt int) int
}

type whRequest struct {
	header  http.Header
	body    []byte
	payload webhook.Payload
}

func MustWHReceiver(t *testing.T, answer func(attempt int) int) *whReceiver {
	t.Helper()
	r := &whReceiver{attempts: map[string]int{}, answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body is not a payload: %v: %s", err, body)
		}
		r.mu.Lock()
		r.attempts[p.DeliveryID]++
		n := r.attempts[p.DeliveryID]
		r.got = append(r.got, whRequest{header: req.Header.Clone(), body: body, payload: p})
		r.mu.Unlock()
		w.WriteHeader(r.answer(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *whReceiver) requests() []whRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]whRequest(nil), r.got...)
}

func MustWebhook(t *testing.T, cfg webhook.Config) *webhook.Sender {
	t.Helper()
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Millisecond
	}
	w, err := webhook.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	return w
}

func whClose(t *testing.T, w *webhook.Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func whJob(id int64, status jobs.Status) jobs.Job {
	return jobs.Job{ID: id, Kind: jobs.KindFull, Status: status, Progress: 100, CreatedAtMs: 1, ErrorCode: backuptest.Str("target_not_mounted"),
		Components: []pack.Component{pack.ComponentDB}}
}

func TestWebhookDeliversSignedJobJSON(t *testing.T) {
	rcv := MustWHReceiver(t, func(int) int { return http.StatusNoContent })
	w := MustWebhook(t, webhook.Config{URL: rcv.URL + "/hook", Secret: "s3cret", Headers: map[string]string{"Authorization": "Bearer x"}, Host: "nas1"})
	if !w.Notify(whJob(7, jobs.StatusFailed)) {
		t.Fatal("Notify refused")
	}
	whClose(t, w)
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	p := r.payload
	if p.Event != webhook.Event || p.Host != "nas1" || p.DeliveryID == "" || p.Job.ID != 7 || p.Job.Status != jobs.StatusFailed ||
		p.Job.ErrorCode == nil || *p.Job.ErrorCode != "target_not_mounted" {
		t.Errorf("payload %+v", p)
	}
	var raw map[string]map[string]any
	json.Unmarshal(r.body, &raw)
	for _, k := range []string{"id", "kind", "status", "progress", "message", "detail", "output_dir", "package_hash", "error_code"} {
		if _, ok := raw["job"][k]; !ok {
			t.Errorf("job JSON lacks %q", k)
		}
	}
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(r.body)
	if got, want := r.header.Get("X-Dockpack-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if r.header.Get("Authorization") != "Bearer x" || r.header.Get("Content-Type") != "application/json" ||
		r.header.Get("X-Dockpack-Delivery") != p.DeliveryID || r.header.Get("X-Dockpack-Event") != webhook.Event {
		t.Errorf("headers %v", r.header)
	}
	if s := w.Stats(); s.Delivered != 1 || s.Failed != 0 || s.Retries != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestWebhookRetries(t *testing.T) {
	for _, tc := range []struct {
		name         string
		answer       func(attempt int) int
		wantRequests int
		want         webhook.Stats
	}{
		{"server errors then success", func(n int) int {
			if n < 3 {
				return http.StatusBadGateway
			}
			return http.StatusOK
		}, 3, webhook.Stats{Delivered: 1, Retries: 2}},
		{"too many requests then success", func(n int) int {
			if n < 2 {
				return http.StatusTooManyRequests
			}
			return http.StatusAccepted
		}, 2, webhook.Stats{Delivered: 1, Retries: 1}},
		{"down for good: gives up after max attempts", func(int) int { return http.StatusServiceUnavailable }, 4, webhook.Stats{Failed: 1, Retries: 3}},
		{"refused: no retry", func(int) int { return http.StatusUnauthorized }, 1, webhook.Stats{Failed: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := MustWHReceiver(t, tc.answer)
			w := MustWebhook(t, webhook.Config{URL: rcv.URL, MaxAttempts: 4})
			w.Notify(whJob(1, jobs.StatusCompleted))
			whClose(t, w)
			reqs := rcv.requests()
			if len(reqs) != tc.wantRequests {
				t.Errorf("%d requests, want %d", len(reqs), tc.wantRequests)
			}
			for i, r := range reqs {
				if r.payload.DeliveryID != reqs[0].payload.DeliveryID {
					t.Errorf("attempt %d has another delivery id", i+1)
				}
			}
			if s := w.Stats(); s != tc.want {
				t.Errorf("stats %+v, want %+v", s, tc.want)
			}
		})
	}
}

func TestWebhookNeverBlocks(t *testing.T) {
	hold := make(chan struct{})
	var once sync.Once
	unhold := func() { once.Do(func() { close(hold) }) }
	var arrived atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(unhold)
	w, err := webhook.New(context.Background(), webhook.Config{URL: srv.URL, QueueSize: 2, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	queued := 0
	for i := range 10 {
		if w.Notify(whJob(int64(i), jobs.StatusCompleted)) {
			queued++
		}
	}
	t.Logf("10 notifications with a stuck receiver took %v; %d queued", time.Since(start), queued)
	if queued < 2 || queued > 3 {
		t.Errorf("%d queued, want the queue size (2) plus at most the one in flight", queued)
	}
	if s := w.Stats(); s.Dropped != int64(10-queued) {
		t.Errorf("dropped %d, want %d", s.Dropped, 10-queued)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck receiver: %v, want the deadline", err)
	}
	if w.Notify(whJob(99, jobs.StatusCompleted)) {
		t.Error("Notify after Close queued")
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	for _, cfg := range []webhook.Config{
		{}, {URL: "ftp://x/y"}, {URL: "http://"}, {URL: "://nope"}, {URL: "http://h", MaxAttempts: -1}, {URL: "http://h", QueueSize: -2},
	} {
		if _, err := webhook.New(context.Background(), cfg); !errors.Is(err, webhook.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrWebhook", cfg, err)
		}
	}
}

// A webhook wired as the Manager's OnJobEnd: the job's outcome is reported,
// and a receiver that is down changes nothing about the job.
func TestWebhookFromManager(t *testing.T) {
	for _, down := range []bool{false, true} {
		rcv := MustWHReceiver(t, func(int) int { return http.StatusOK })
		if down {
			rcv.Close()
		}
		w := MustWebhook(t, webhook.Config{URL: rcv.URL, MaxAttempts: 2})
		dir := t.TempDir()
		m := backuptest.MustManager(t, jobs.Config{StateDir: dir,
			OnJobEnd: func(j jobs.Job) { w.Notify(j) },
			Run: func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
				return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_x"), Name: "migration_pack_x"}, nil
			},
		})
		job, err := m.Start(context.Background(), jobs.Request{})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			j, _ := m.Get(context.Background(), job.ID)
			if !j.Status.Active() {
				if j.Status != jobs.StatusCompleted {
					t.Fatalf("down=%v: job ended %s", down, j.Status)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("job did not end")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// OnJobEnd runs just after the final state is stored: wait for its outcome.
		for deadline := time.Now().Add(10 * time.Second); ; {
			if s := w.Stats(); s.Delivered+s.Failed > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("down=%v: no notification attempted: %+v", down, w.Stats())
			}
			time.Sleep(5 * time.Millisecond)
		}
		whClose(t, w)
		s := w.Stats()
		if down {
			if s.Failed != 1 || s.Delivered != 0 {
				t.Errorf("receiver down: stats %+v", s)
			}
			continue
		}
		reqs := rcv.requests()
		if len(reqs) != 1 || reqs[0].payload.Job.ID != job.ID || reqs[0].payload.Job.Status != jobs.StatusCompleted ||
			reqs[0].payload.Job.PackName == nil || *reqs[0].payload.Job.PackName != "migration_pack_x" {
			t.Errorf("receiver got %+v", reqs)
		}
	}
}
