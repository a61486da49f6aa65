// Package eventq queues events for one reader that may be slow: events the
// merge rule allows are coalesced (the newer replaces the last queued),
// the oldest are dropped when the reader falls far behind, and the final
// event is never dropped; nothing is queued after it. A writer never
// blocks on the reader.
package eventq

import (
	"context"
	"sync"
)

// Queue is one reader's queue; Pump delivers it to Out.
type Queue[E any] struct {
	mu    sync.Mutex
	queue []E
	final bool
	wake  chan struct{}
	out   chan E

	max     int
	merge   func(last, next E) bool
	isFinal func(E) bool
}

// New returns a queue keeping at most max events; merge says whether next
// replaces last (the newest queued), isFinal which event is the last.
func New[E any](max int, merge func(last, next E) bool, isFinal func(E) bool) *Queue[E] {
	return &Queue[E]{wake: make(chan struct{}, 1), out: make(chan E, 1), max: max, merge: merge, isFinal: isFinal}
}

// Out is the reader's channel, closed after the final event (or when Pump
// stops).
func (q *Queue[E]) Out() <-chan E { return q.out }

// Push queues ev (nothing after the final event).
func (q *Queue[E]) Push(ev E) {
	q.mu.Lock()
	if q.final {
		q.mu.Unlock()
		return
	}
	if n := len(q.queue); n > 0 && q.merge(q.queue[n-1], ev) {
		q.queue[n-1] = ev
	} else {
		q.queue = append(q.queue, ev)
	}
	if q.isFinal(ev) {
		q.final = true
	}
	if len(q.queue) > q.max {
		q.queue = q.queue[len(q.queue)-q.max:]
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Pump delivers the queue to Out until the final event, ctx's end or done,
// then calls unregister and closes Out.
func (q *Queue[E]) Pump(ctx context.Context, done <-chan struct{}, unregister func()) {
	defer close(q.out)
	defer unregister()
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
		ev := q.queue[0]
		q.queue = q.queue[1:]
		q.mu.Unlock()
		select {
		case q.out <- ev:
		case <-ctx.Done():
			return
		case <-done:
			return
		}
		if q.isFinal(ev) {
			return
		}
	}
}
