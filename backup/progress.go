package backup

import (
	"io"
	"sync"
	"time"
)

// Progress is one report of a running backup. Percent never goes backwards.
type Progress struct {
	Step       Step      `json:"step"`
	Item       string    `json:"item,omitempty"`
	Percent    int       `json:"percent"`
	BytesDone  int64     `json:"bytes_done"`  // bytes written to the pack so far
	BytesTotal int64     `json:"bytes_total"` // the estimate (the pack may end up larger)
	StepDone   int64     `json:"step_done"`
	StepTotal  int64     `json:"step_total"`
	Message    string    `json:"message"`
	Time       time.Time `json:"time"`
}

// ProgressFunc receives progress reports. It is called from the goroutine
// running the backup (or one it started) and must not block for long.
type ProgressFunc func(Progress)

// Percent bands: the precheck takes 0–2 %, the data steps share 2–97 % by
// their estimated bytes, compose+manifest 97–99 %, a finished pack is 100 %.
const (
	pctDataStart = 2
	pctDataEnd   = 97
	pctManifest  = 98
	pctFinalize  = 99
)

type tracker struct {
	mu       sync.Mutex
	fn       ProgressFunc
	now      func() time.Time
	interval time.Duration

	total     int64 // estimate of all data bytes
	doneSteps int64 // bytes of finished data items
	cur       Progress
	lastEmit  time.Time
	lastPct   int
}

func newTracker(fn ProgressFunc, now func() time.Time, interval time.Duration) *tracker {
	return &tracker{fn: fn, now: now, interval: interval}
}

// begin starts a step (or an item within a step) and always reports it.
func (t *tracker) begin(step Step, item string, stepTotal int64, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.doneSteps += t.cur.StepDone
	t.cur = Progress{Step: step, Item: item, StepTotal: stepTotal, Message: msg}
	t.emitLocked(true)
}

// add records n more bytes written in the current item.
func (t *tracker) add(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.StepDone += n
	t.emitLocked(false)
}

// message updates the current message; force reports it even within the interval.
func (t *tracker) message(msg string, force bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.Message = msg
	t.emitLocked(force)
}

// percentAt pins the percentage (manifest, finalize) and reports it.
func (t *tracker) percentAt(step Step, pct int, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.doneSteps += t.cur.StepDone
	t.cur = Progress{Step: step, Message: msg}
	if pct > t.lastPct {
		t.lastPct = pct
	}
	t.emitLocked(true)
}

func (t *tracker) emitLocked(force bool) {
	now := t.now()
	if !force && now.Sub(t.lastEmit) < t.interval {
		return
	}
	p := t.cur
	p.BytesDone = t.doneSteps + t.cur.StepDone
	p.BytesTotal = t.total
	if t.lastPct < pctManifest && t.total > 0 && p.BytesDone > 0 {
		pct := pctDataStart + int(float64(pctDataEnd-pctDataStart)*float64(p.BytesDone)/float64(t.total))
		pct = min(pct, pctDataEnd)
		if pct > t.lastPct {
			t.lastPct = pct
		}
	}
	p.Percent = t.lastPct
	p.Time = now
	t.lastEmit = now
	if t.fn != nil {
		t.fn(p)
	}
}

// bytesDone is the total written so far.
func (t *tracker) bytesDone() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.doneSteps + t.cur.StepDone
}

// countingWriter reports every write to the tracker.
type countingWriter struct {
	w io.Writer
	t *tracker
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.t.add(int64(n))
	}
	return n, err
}
