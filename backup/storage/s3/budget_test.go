package s3

import (
	"context"
	"testing"
)

// The budget hands out buffers up to its bound and waits for a part in
// flight to land before going over it (a canceled ctx shows the wait);
// with nothing in flight (every buffer held by an upload being filled) it
// gives one beyond the bound rather than wait for ever; landed buffers are
// reused, and no more are kept than the bound.
func TestBudget(t *testing.T) {
	const part = 1 << 20
	g := newBudget(2*part, part)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	a, _ := g.get(ctx, part)
	b, _ := g.get(ctx, part)
	g.fly() // a goes out
	if _, err := g.get(canceled, part); err == nil {
		t.Fatal("a third buffer within a budget of two, with a part in flight")
	}
	g.land(a, true)
	c, err := g.get(canceled, part) // no wait now
	if err != nil || c != a {
		t.Fatalf("after the part landed: %v (reused: %v)", err, c == a)
	}
	// Nothing in flight, the budget spent: an overdraft, not a wait.
	d, err := g.get(canceled, part)
	if err != nil || cap(*d) != part {
		t.Fatalf("overdraft: %v", err)
	}
	for _, bp := range []*[]byte{b, c, d} {
		g.put(bp)
	}
	if g.used != 0 || len(g.free) != 2 {
		t.Errorf("after every put: used %d, %d kept (want 0, 2: no more than the budget)", g.used, len(g.free))
	}
	// A buffer of another size is counted, not kept.
	e, _ := g.get(ctx, 3*part/2)
	g.put(e)
	if g.used != 0 || len(g.free) != 2 {
		t.Errorf("after an odd size: used %d, %d kept", g.used, len(g.free))
	}
}
