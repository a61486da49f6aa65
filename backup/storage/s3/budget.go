package s3

import (
	"context"
	"sync"
)

// budget bounds the part buffers a backend holds at once — the part each
// upload is filling and the parts in flight, of all its uploads together
// — to Options.Memory bytes, and recycles them: a buffer a part is done
// with goes to the next part instead of to the garbage collector (a fresh
// 8 MiB per part, or per store bundle, was garbage enough to double a
// backup's peak RSS).
//
// A buffer is waited for while the budget is spent and some part is in
// flight (its end frees one). With nothing in flight the buffers are all
// held by uploads being filled, and waiting could wait for ever (each
// upload waiting for the others): the buffer is then given beyond the
// budget — the overdraft is at most one buffer per upload open at once.
type budget struct {
	limit    int64 // bytes
	partSize int64 // the backend's part size: the size of the recycled buffers

	mu       sync.Mutex
	used     int64     // bytes of the buffers handed out
	inflight int       // parts being sent (each frees its buffer when done)
	free     []*[]byte // buffers of partSize kept for reuse
	changed  chan struct{}
}

func newBudget(limit, partSize int64) *budget {
	return &budget{limit: limit, partSize: partSize, changed: make(chan struct{})}
}

// get returns an empty buffer of capacity size, waiting while the budget
// is spent and a part is in flight (ctx bounds the wait).
func (g *budget) get(ctx context.Context, size int64) (*[]byte, error) {
	for {
		g.mu.Lock()
		if g.used+size <= g.limit || g.inflight == 0 {
			g.used += size
			var bp *[]byte
			if size == g.partSize && len(g.free) > 0 {
				bp = g.free[len(g.free)-1]
				g.free = g.free[:len(g.free)-1]
			}
			g.mu.Unlock()
			if bp == nil {
				s := make([]byte, 0, size)
				bp = &s
			}
			*bp = (*bp)[:0]
			return bp, nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// put gives a buffer from get back: kept for reuse while the budget has
// room for it, else dropped.
func (g *budget) put(bp *[]byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	size := int64(cap(*bp))
	g.used -= size
	if size == g.partSize && g.used+int64(len(g.free)+1)*g.partSize <= g.limit {
		g.free = append(g.free, bp)
	}
	g.wake()
}

// fly counts a part going out; land counts it back and gives its buffer back.
func (g *budget) fly() {
	g.mu.Lock()
	g.inflight++
	g.mu.Unlock()
}

// (a buffer not from get — tracked false — is only dropped).
func (g *budget) land(bp *[]byte, tracked bool) {
	g.mu.Lock()
	g.inflight--
	if !tracked {
		g.wake()
	}
	g.mu.Unlock()
	if tracked {
		g.put(bp)
	}
}

// wake tells the waiters that a buffer was freed or a part landed (g.mu held).
func (g *budget) wake() {
	close(g.changed)
	g.changed = make(chan struct{})
}
