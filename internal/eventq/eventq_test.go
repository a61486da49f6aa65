package eventq_test

import (
	"context"
	"testing"

	"github.com/dockpack/dockpack/internal/eventq"
)

type ev struct {
	kind string
	n    int
}

func newQ(max int) *eventq.Queue[ev] {
	return eventq.New(max, func(last, next ev) bool { return last.kind == "p" && next.kind == "p" }, func(e ev) bool { return e.kind == "final" })
}

// Progress is coalesced, the oldest dropped beyond max, the final event
// kept and nothing after it.
func TestQueue(t *testing.T) {
	q := newQ(3)
	for _, e := range []ev{{"log", 1}, {"p", 2}, {"p", 3}, {"log", 4}, {"log", 5}, {"final", 6}, {"log", 7}} {
		q.Push(e)
	}
	unregistered := false
	go q.Pump(context.Background(), nil, func() { unregistered = true })
	var got []int
	for e := range q.Out() {
		got = append(got, e.n)
	}
	if len(got) != 3 || got[0] != 4 || got[1] != 5 || got[2] != 6 || !unregistered {
		t.Fatalf("delivered %v (unregistered %v), want [4 5 6]", got, unregistered)
	}
}

func TestPumpStopsWithCtx(t *testing.T) {
	q := newQ(8)
	ctx, cancel := context.WithCancel(context.Background())
	go q.Pump(ctx, nil, func() {})
	q.Push(ev{"p", 1})
	if e := <-q.Out(); e.n != 1 {
		t.Fatalf("got %+v", e)
	}
	cancel()
	if _, ok := <-q.Out(); ok {
		t.Fatal("Out not closed after ctx ended")
	}
}
