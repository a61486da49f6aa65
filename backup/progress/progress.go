// Package progress is the vocabulary of progress reports shared by backups,
// verification and restores: the steps, one report, and the Tracker that
// turns bytes written into a percentage that never goes backwards. Progress
// is data: callers render it (a bar, JSON lines, SSE); logs are separate.
package progress

import (
	"io"
	"sync"
	"time"
)

// Step names a stage of a backup, a verification or a restore.
type Step string

// The steps of a backup, in order, and the step of a verification (also the
// first step of a restore and of a restore drill).
const (
	StepPrecheck Step = "precheck"
	StepSQLite   Step = "sqlite"
	StepVolumes  Step = "volumes"
	StepImages   Step = "images"
	StepCompose  Step = "compose"
	StepManifest Step = "manifest"
	StepFinalize Step = "finalize"
	StepVerify   Step = "verify"
)

// Report is one progress report. Percent never goes backwards.
type Report struct {
	Step       Step      `json:"step"`
	Item       string    `json:"item,omitempty"`
	Percent    int       `json:"percent"`
	BytesDone  int64     `json:"bytes_done"`  // bytes written (or read) so far
	BytesTotal int64     `json:"bytes_total"` // the estimate (the result may end up larger)
	StepDone   int64     `json:"step_done"`
	StepTotal  int64     `json:"step_total"`
	Message    string    `json:"message"`
	Time       time.Time `json:"time"`
	// Store is what a store backup read, added and reused so far, per
	// component (db, volumes, images, compose); nil in a classic backup.
	Store map[string]ComponentBytes `json:"store,omitempty"`
}

// Func receives progress reports. It is called from the goroutine doing the
// work (or one it started) and must not block for long.
type Func func(Report)

// Percent bands: the precheck takes 0–2 %, the data steps share 2–97 % by
// their estimated bytes, compose+manifest 97–99 %, a finished pack is 100 %.
const (
	PctDataStart = 2
	PctDataEnd   = 97
	PctManifest  = 98
	PctFinalize  = 99
)

// Tracker accumulates bytes into reports for a Func, at most one report per
// interval within an item (step changes are always reported).
type Tracker struct {
	mu       sync.Mutex
	fn       Func
	now      func() time.Time
	interval time.Duration

	total     int64 // estimate of all data bytes
	doneSteps int64 // bytes of finished data items
	cur       Report
	lastEmit  time.Time
	lastPct   int
	store     map[string]ComponentBytes // replaced, never changed: reports share it
}

// NewTracker reports to fn (which may be nil) using the clock now.
func NewTracker(fn Func, now func() time.Time, interval time.Duration) *Tracker {
	return &Tracker{fn: fn, now: now, interval: interval}
}

// SetTotal sets the estimate of all data bytes.
func (t *Tracker) SetTotal(n int64) {
	t.mu.Lock()
	t.total = n
	t.mu.Unlock()
}

// AddTotal raises the estimate of all data bytes by n.
func (t *Tracker) AddTotal(n int64) {
	t.mu.Lock()
	t.total += n
	t.mu.Unlock()
}

// Begin starts a step (or an item within a step) and always reports it.
func (t *Tracker) Begin(step Step, item string, stepTotal int64, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.doneSteps += t.cur.StepDone
	t.cur = Report{Step: step, Item: item, StepTotal: stepTotal, Message: msg}
	t.emitLocked(true)
}

// Add records n more bytes done in the current item.
func (t *Tracker) Add(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.StepDone += n
	t.emitLocked(false)
}

// Message updates the current message; force reports it even within the interval.
func (t *Tracker) Message(msg string, force bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.Message = msg
	t.emitLocked(force)
}

// PercentAt pins the percentage (manifest, finalize, done) and reports it.
func (t *Tracker) PercentAt(step Step, pct int, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.doneSteps += t.cur.StepDone
	t.cur = Report{Step: step, Message: msg}
	if pct > t.lastPct {
		t.lastPct = pct
	}
	t.emitLocked(true)
}

func (t *Tracker) emitLocked(force bool) {
	now := t.now()
	if !force && now.Sub(t.lastEmit) < t.interval {
		return
	}
	p := t.cur
	p.BytesDone = t.doneSteps + t.cur.StepDone
	p.BytesTotal = t.total
	if t.lastPct < PctManifest && t.total > 0 && p.BytesDone > 0 {
		pct := PctDataStart + int(float64(PctDataEnd-PctDataStart)*float64(p.BytesDone)/float64(t.total))
		pct = min(pct, PctDataEnd)
		if pct > t.lastPct {
			t.lastPct = pct
		}
	}
	p.Percent = t.lastPct
	p.Time = now
	p.Store = t.store
	t.lastEmit = now
	if t.fn != nil {
		t.fn(p)
	}
}

// BytesDone is the total done so far.
func (t *Tracker) BytesDone() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.doneSteps + t.cur.StepDone
}

// Writer returns a writer that passes every write to w and counts it.
func (t *Tracker) Writer(w io.Writer) io.Writer { return &countingWriter{w: w, t: t} }

// countingWriter reports every write to the tracker.
type countingWriter struct {
	w io.Writer
	t *Tracker
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.t.Add(int64(n))
	}
	return n, err
}
