package mountcheck

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// stage records which file-system call a bounded operation is in, so a
// timeout message can say where it got stuck.
type stage struct{ v atomic.Value }

func (s *stage) set(what string) { s.v.Store(what) }

func (s *stage) get() string {
	if v, ok := s.v.Load().(string); ok {
		return v
	}
	return "starting"
}

// errTimedOut is returned by bounded when timeout passed first; callers turn
// it into an ErrProbeTimeout with a message naming the path and the mount.
type errTimedOut struct {
	stage   string
	timeout time.Duration
}

func (e *errTimedOut) Error() string {
	return fmt.Sprintf("did not finish within %s (stuck at %s)", e.timeout, e.stage)
}

// bounded runs fn in its own goroutine and waits for it, for timeout, or for
// ctx, whichever comes first. On timeout it returns *errTimedOut; on ctx it
// returns ctx.Err(). fn keeps running after a timeout (a call blocked in the
// kernel cannot be interrupted); when it finishes, its result is handed to
// discard (if not nil) so that resources in it are released.
func bounded[T any](ctx context.Context, timeout time.Duration, fn func(st *stage) (T, error), discard func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	st := &stage{}
	done := make(chan result) // unbuffered: either we receive it or it is discarded
	abandoned := make(chan struct{})
	defer close(abandoned)
	go func() {
		v, err := fn(st)
		select {
		case done <- result{v, err}:
		case <-abandoned:
			if discard != nil {
				discard(v)
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		return zero, &errTimedOut{stage: st.get(), timeout: timeout}
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
