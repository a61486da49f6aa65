package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
)

const testToken = "0123456789abcdef0123456789abcdef"

// fakeBackend is an in-memory Backend: one lock, jobs in a map, settings
// with pins. Mutating calls are counted so tests can prove "no state change".
type fakeBackend struct {
	mu       sync.Mutex
	jobs     map[int64]jobs.Job
	nextID   int64
	holder   int64 // the job holding the lock, 0 = free
	settings settings.Settings
	pinned   []string
	mutating int // Start/Cancel/UpdateSettings calls that got past validation
	lastReq  jobs.Request
	lastList jobs.ListOptions
	lastPtch settings.Patch
	lastWhy  string
	packs    []pack.Info

	// err, when set, is returned by every method (error-mapping tests).
	err error
	// subscribe replaces Subscribe's default (a closed channel after the job's final event).
	subscribe func(ctx context.Context, id int64) (<-chan jobs.Event, error)
	// panicOn makes Get panic.
	panicOnGet bool
}

func newFake() *fakeBackend {
	return &fakeBackend{jobs: map[int64]jobs.Job{}, settings: settings.Default()}
}

func (f *fakeBackend) Start(ctx context.Context, req jobs.Request) (jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return jobs.Job{}, f.err
	}
	if f.holder != 0 {
		return jobs.Job{}, &jobs.BusyError{JobID: f.holder, Owner: "fake"}
	}
	f.mutating++
	f.lastReq = req
	f.nextID++
	kind := jobs.KindIncremental
	if req.Full || slices.Contains(req.Components, pack.ComponentImages) {
		kind = jobs.KindFull
	}
	j := jobs.Job{ID: f.nextID, Kind: kind, Status: jobs.StatusRunning, CreatedAtMs: time.Now().UnixMilli(),
		VerificationStatus: jobs.VerificationNotVerified, Components: req.Components, Trigger: req.Trigger}
	f.jobs[j.ID] = j
	f.holder = j.ID
	return j, nil
}

func (f *fakeBackend) Get(ctx context.Context, id int64) (jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicOnGet {
		panic("fake panic")
	}
	if f.err != nil {
		return jobs.Job{}, f.err
	}
	j, ok := f.jobs[id]
	if !ok {
		return jobs.Job{}, fmt.Errorf("job %d: %w", id, jobs.ErrJobNotFound)
	}
	return j, nil
}

func (f *fakeBackend) List(ctx context.Context, o jobs.ListOptions) ([]jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.lastList = o
	var out []jobs.Job
	for id := f.nextID; id > 0 && len(out) < o.Limit; id-- {
		if j, ok := f.jobs[id]; ok && (o.Status == "" || j.Status == o.Status) {
			out = append(out, j)
		}
	}
	return out, nil
}

func (f *fakeBackend) Cancel(ctx context.Context, id int64, reason string) (jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return jobs.Job{}, f.err
	}
	j, ok := f.jobs[id]
	if !ok {
		return jobs.Job{}, fmt.Errorf("job %d: %w", id, jobs.ErrJobNotFound)
	}
	f.mutating++
	f.lastWhy = reason
	if j.Status.Active() {
		j.Status = jobs.StatusCanceled
		j.CancelReason = &reason
		f.jobs[id] = j
		if f.holder == id {
			f.holder = 0
		}
	}
	return j, nil
}

func (f *fakeBackend) Subscribe(ctx context.Context, id int64) (<-chan jobs.Event, error) {
	if f.subscribe != nil {
		return f.subscribe(ctx, id)
	}
	j, err := f.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	ch := make(chan jobs.Event, 1)
	ch <- jobs.Event{Type: "final", JobID: id, Job: &j}
	close(ch)
	return ch, nil
}

func (f *fakeBackend) Settings(ctx context.Context) (settings.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return settings.Settings{}, f.err
	}
	s := f.settings
	s.PinnedFields = slices.Clone(f.pinned)
	return s, nil
}

func (f *fakeBackend) UpdateSettings(ctx context.Context, p settings.Patch) (settings.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return settings.Settings{}, f.err
	}
	if p.ChangeReason == "" {
		return settings.Settings{}, fmt.Errorf("%w: change_reason required", jobs.ErrInvalidSettings)
	}
	next, changed, err := p.Apply(f.settings)
	if err != nil {
		return settings.Settings{}, err
	}
	for _, name := range changed {
		if slices.Contains(f.pinned, name) {
			return settings.Settings{}, &jobs.PinnedError{Field: name}
		}
	}
	if err := next.Validate(); err != nil {
		return settings.Settings{}, err
	}
	f.mutating++
	f.lastPtch = p
	f.settings = next
	return f.settings, nil
}

func (f *fakeBackend) Packs(ctx context.Context) ([]pack.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.packs, nil
}

func (f *fakeBackend) JobLog(ctx context.Context, id int64) ([]jobs.LogLine, error) {
	if _, err := f.Get(ctx, id); err != nil {
		return nil, err
	}
	return []jobs.LogLine{{AtMs: 1, Level: "info", Message: "hello"}}, nil
}

func (f *fakeBackend) mutations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mutating
}

// MustServer serves New(b, o) (Token defaults to testToken) on an httptest server.
func MustServer(t testing.TB, b httpapi.Backend, o httpapi.Options) *httptest.Server {
	t.Helper()
	if o.Token == "" && o.Auth == nil {
		o.Token = testToken
	}
	h, err := httpapi.New(b, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// MustDo sends a request with the test token (unless token is "-") and
// returns status, headers and body.
func MustDo(t testing.TB, srv *httptest.Server, method, path, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}
