package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/internal/owner"
	"go.uber.org/zap"
)

// Webhook notifies a URL when a job ends: it POSTs a WebhookPayload (the
// job's JSON, as the API serves it) and retries with exponential backoff. It
// never blocks and never fails the job: Notify only queues (when the queue
// is full the new notification is dropped, logged and counted), and one
// goroutine delivers. Wire it as jobs.Config.OnJobEnd:
//
//	wh, _ := backup.NewWebhook(ctx, backup.WebhookConfig{URL: "https://ops.example/hooks/backup"})
//	defer wh.Close(ctx)
//	cfg.OnJobEnd = func(j backup.Job) { wh.Notify(j) }
type Sender struct {
	cfg Config
	log *zap.Logger
	url string // redacted, for logs

	mu     sync.Mutex
	closed bool
	queue  chan webhookDelivery

	ctx    context.Context // canceled when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{}

	delivered, failed, dropped, retries atomic.Int64
}

// WebhookEvent is the event name of a finished job.
const Event = "backup.job.ended"

// WebhookPayload is the body POSTed for a finished job.
type Payload struct {
	Event string `json:"event"` // WebhookEvent
	// DeliveryID is the same in every attempt of one notification, so a
	// receiver can drop duplicates.
	DeliveryID string    `json:"delivery_id"`
	Host       string    `json:"host"`
	SentAt     time.Time `json:"sent_at"`
	Job        jobs.Job  `json:"job"`
}

// WebhookConfig configures NewWebhook. Zero values take the defaults.
type Config struct {
	// URL receives the POSTs (http or https; required).
	URL string
	// Secret, when set, signs each body: header X-Dockpack-Signature is
	// "sha256=" + hex(HMAC-SHA256(Secret, body)).
	Secret string
	// Headers are added to every request (e.g. Authorization).
	Headers map[string]string
	// Timeout bounds one attempt. Default 10s.
	Timeout time.Duration
	// MaxAttempts is how many times one notification is tried. Default 6.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure; it doubles up to
	// MaxBackoff (with ±20 % jitter), or follows Retry-After. Defaults 1s and 1m.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// QueueSize is how many notifications may wait. Default 100.
	QueueSize int
	// Client sends the requests. Default: an http.Client with Timeout (and
	// the environment's proxy settings and the system's CA certificates).
	Client *http.Client
	// Logger receives delivery failures (warn) and drops (error). Default zap.NewNop().
	Logger *zap.Logger
	// Host names this machine in the payload. Default os.Hostname().
	Host string
}

func (c *Config) applyDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 6
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Minute
	}
	if c.QueueSize == 0 {
		c.QueueSize = 100
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
}

// ErrWebhook marks an unusable webhook configuration.
var ErrInvalidConfig = errors.New("invalid webhook configuration")

// Validate reports what is wrong with the configuration (after defaults).
func (c Config) Validate() error {
	c.applyDefaults()
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("no URL given"))
	case err != nil:
		errs = append(errs, fmt.Errorf("URL: %v", err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fmt.Errorf("URL %q: want http(s)://host/path", u.Redacted()))
	}
	if c.Timeout < 0 || c.InitialBackoff < 0 || c.MaxBackoff < 0 {
		errs = append(errs, errors.New("timeout and backoffs must not be negative"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d: at least 1", c.MaxAttempts))
	}
	if c.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("queue size %d: at least 1", c.QueueSize))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

type webhookDelivery struct {
	id  string
	job jobs.Job
}

// NewWebhook validates cfg and starts the delivering goroutine; it lives
// until Close (not until ctx ends: ctx only passes on its values).
func New(ctx context.Context, cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	u, _ := url.Parse(cfg.URL)
	w := &Sender{cfg: cfg, log: cfg.Logger.Named("webhook"), url: u.Redacted(), queue: make(chan webhookDelivery, cfg.QueueSize), done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx)) // ended by Close
	go w.run()
	return w, nil
}

// Notify queues a notification of j and returns at once; false when it was
// not queued (the webhook is closed, or its queue is full: the news is
// dropped, logged and counted in WebhookStats.Dropped).
func (w *Sender) Notify(j jobs.Job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	select {
	case w.queue <- webhookDelivery{id: owner.NewToken(), job: j}:
		return true
	default:
		w.dropped.Add(1)
		w.log.Error("webhook queue full: notification dropped (the receiver is down or slow)",
			zap.String("url", w.url), zap.Int64("job_id", j.ID), zap.String("status", string(j.Status)))
		return false
	}
}

// WebhookStats counts deliveries since NewWebhook.
type Stats struct {
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`  // given up after MaxAttempts or a permanent refusal (4xx)
	Dropped   int64 `json:"dropped"` // never tried: queue full, or left queued at Close
	Retries   int64 `json:"retries"`
}

// Stats returns the delivery counters.
func (w *Sender) Stats() Stats {
	return Stats{Delivered: w.delivered.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load(), Retries: w.retries.Load()}
}

// Close stops accepting notifications and delivers those queued until ctx
// ends; then it abandons the rest (counted as dropped) and returns ctx's error.
func (w *Sender) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return fmt.Errorf("webhook: undelivered notifications abandoned: %w", ctx.Err())
	}
}

func (w *Sender) run() {
	defer close(w.done)
	defer w.cancel()
	for d := range w.queue {
		if w.ctx.Err() != nil {
			w.dropped.Add(1)
			continue
		}
		w.deliver(d)
	}
}

// deliver tries one notification up to MaxAttempts times.
func (w *Sender) deliver(d webhookDelivery) {
	body, err := json.Marshal(Payload{Event: Event, DeliveryID: d.id, Host: w.cfg.Host, SentAt: time.Now().UTC(), Job: d.job})
	if err != nil {
		w.failed.Add(1)
		w.log.Error("webhook: cannot encode the job", zap.Int64("job_id", d.job.ID), zap.Error(err))
		return
	}
	backoff := w.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := w.post(d, body, attempt)
		if err == nil {
			w.delivered.Add(1)
			w.log.Debug("webhook delivered", zap.String("url", w.url), zap.Int64("job_id", d.job.ID), zap.Int("attempt", attempt))
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= w.cfg.MaxAttempts || w.ctx.Err() != nil {
			w.failed.Add(1)
			w.log.Warn("webhook delivery failed; the job itself is unaffected", zap.String("url", w.url), zap.Int64("job_id", d.job.ID),
				zap.Int("attempts", attempt), zap.Error(err))
			return
		}
		wait := jitter(backoff)
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, w.cfg.MaxBackoff)
		w.log.Info("webhook delivery failed; retrying", zap.String("url", w.url), zap.Int64("job_id", d.job.ID),
			zap.Int("attempt", attempt), zap.Duration("retry_in", wait), zap.Error(err))
		w.retries.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			w.failed.Add(1)
			return
		}
		backoff = min(backoff*2, w.cfg.MaxBackoff)
	}
}

// permanentError is a refusal that retrying cannot fix (4xx but 408/429).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// post makes one attempt; it returns the server's Retry-After, if any.
func (w *Sender) post(d webhookDelivery, body []byte, attempt int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{err}
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dockpack/"+backup.Version)
	req.Header.Set("X-Dockpack-Event", Event)
	req.Header.Set("X-Dockpack-Delivery", d.id)
	req.Header.Set("X-Dockpack-Attempt", strconv.Itoa(attempt))
	if w.cfg.Secret != "" {
		mac := hmac.New(sha256.New, []byte(w.cfg.Secret))
		mac.Write(body)
		req.Header.Set("X-Dockpack-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", w.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("POST %s: %s: %s", w.url, resp.Status, bytes.TrimSpace(msg))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		var after time.Duration
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
			after = time.Duration(s) * time.Second
		}
		return after, err
	}
	return 0, &permanentError{err}
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	span := int64(d) / 5
	if span <= 0 {
		return d
	}
	n, err := rand.Int(rand.Reader, big.NewInt(2*span+1))
	if err != nil {
		return d
	}
	return d - time.Duration(span) + time.Duration(n.Int64())
}
