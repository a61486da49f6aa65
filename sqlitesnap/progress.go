package sqlitesnap

import (
	"sync"
	"time"
)

// heartbeat is how often the reporter re-reports the current progress when
// the work itself has not reported (a long check, a slow write), so the
// callback runs at least once a second.
const heartbeat = 400 * time.Millisecond

// reporter serialises calls to a Progress callback: throttled updates from
// the working goroutine, forced reports at phase boundaries, and a heartbeat
// goroutine. A nil reporter (no callback) ignores everything.
type reporter struct {
	fn       func(Progress)
	interval time.Duration

	mu   sync.Mutex // held while fn runs: calls never overlap
	cur  Progress
	last time.Time // when fn was last called

	stop chan struct{}
	done chan struct{}
}

func newReporter(fn func(Progress), interval time.Duration) *reporter {
	if fn == nil {
		return nil
	}
	r := &reporter{fn: fn, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	go r.beat()
	return r
}

func (r *reporter) beat() {
	defer close(r.done)
	t := time.NewTicker(heartbeat / 2)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.mu.Lock()
			if r.cur.Phase != "" && now.Sub(r.last) >= heartbeat {
				r.call()
			}
			r.mu.Unlock()
		}
	}
}

// call runs fn with r.mu held.
func (r *reporter) call() {
	r.fn(r.cur)
	r.last = time.Now()
}

// update records p and reports it when force is set or the interval since
// the last report has passed.
func (r *reporter) update(p Progress, force bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = p
	if force || time.Since(r.last) >= r.interval {
		r.call()
	}
}

// close stops the heartbeat and waits for a call in flight; no call happens
// after close returns.
func (r *reporter) close() {
	if r == nil {
		return
	}
	close(r.stop)
	<-r.done
}
