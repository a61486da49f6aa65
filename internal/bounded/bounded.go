// Package bounded runs a call with a time bound: the caller gets an answer
// after at most d, even when the call is stuck in the kernel (a file-system
// call on a hung network mount cannot be interrupted). The call goes on in
// the background and its late result is dropped.
package bounded

import (
	"context"
	"fmt"
	"time"
)

// TimeoutError says which call did not finish in time.
type TimeoutError struct {
	What  string        // what was running, e.g. "listing /mnt/replica/packs"
	After time.Duration // the bound that passed
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s did not finish within %s (is the mount hung?)", e.What, e.After)
}

// Is makes a TimeoutError match context.DeadlineExceeded: a time limit
// passed, and error codes call it a timeout.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Call runs fn and waits for it for at most d (no bound when d <= 0) and
// while ctx lasts. It returns fn's result; a *TimeoutError naming what when
// d passed first; or ctx's error, prefixed with what, when ctx ended first.
// fn goes on in the background after a timeout: it must not touch state
// the caller uses afterwards.
func Call[T any](ctx context.Context, d time.Duration, what string, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: a late fn never blocks
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-timeout:
		return zero, &TimeoutError{What: what, After: d}
	case <-ctx.Done():
		return zero, fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// Do is Call for a function without a result.
func Do(ctx context.Context, d time.Duration, what string, fn func() error) error {
	_, err := Call(ctx, d, what, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}
