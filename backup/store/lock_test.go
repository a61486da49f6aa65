package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
)

// slowBackend sleeps a random 0–2 ms around every lock object operation:
// it widens the windows between a taker's read, remove and create in
// which two takers of an expired lease could both win.
type slowBackend struct{ storage.Backend }

func pause() { time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) }

func (b slowBackend) Create(ctx context.Context, key string, o storage.CreateOptions) (storage.Upload, error) {
	pause()
	u, err := b.Backend.Create(ctx, key, o)
	pause()
	return u, err
}

func (b slowBackend) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	pause()
	rc, err := b.Backend.Open(ctx, key, off, n)
	pause()
	return rc, err
}

// Remove pauses longer before it acts (0–10 ms): a taker that judged a
// lease expired removes it late, after another taker may have replaced it.
func (b slowBackend) Remove(ctx context.Context, key string) error {
	time.Sleep(time.Duration(rand.IntN(10000)) * time.Microsecond)
	err := b.Backend.Remove(ctx, key)
	pause()
	return err
}

func (b slowBackend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	pause()
	return b.Backend.List(ctx, prefix, fn)
}

// expiredLease writes, under key, an exclusive lease of an owner on another
// host (never judged dead from here) that expired a second ago.
func expiredLease(t *testing.T, b storage.Backend, key string) {
	t.Helper()
	l := store.Lease{Mode: store.Exclusive, Owner: owner.Identity{Token: owner.NewToken(), Host: "elsewhere", PID: 1}, Purpose: "prune",
		AcquiredAt: time.Now().Add(-time.Hour), ExpiresAt: time.Now().Add(-time.Second)}
	data, _ := json.Marshal(l)
	if _, err := storage.WriteObject(context.Background(), b, key, strings.NewReader(string(data)), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestStoreLockTakeoverRace: many takers of an expired exclusive lease
// (one of an older dockpack's fixed key and one of this one's) at once,
// exclusive and shared, each with its own owner, through a backend that
// pauses at random around every operation: never an exclusive holder
// together with any other holder, and every taker gets its turn.
func TestStoreLockTakeoverRace(t *testing.T) {
	ctx := context.Background()
	b := slowBackend{openStore(t, t.TempDir()).Backend()}
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		expiredLease(t, b, store.LocksPrefix+"exclusive.json")
		expiredLease(t, b, store.LocksPrefix+"exclusive-"+owner.NewToken()+"-0123456789abcdef.json")
		var mu sync.Mutex
		var excl, shared, maxShared int
		var acquired atomic.Int32
		errs := make(chan error, 64)
		start := make(chan struct{})
		var wg sync.WaitGroup
		const takers = 8
		for i := range takers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mode := store.Exclusive
				if i%4 == 3 {
					mode = store.Shared
				}
				<-start
				for range 2 {
					l, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: mode, Owner: owner.Self(""), Purpose: fmt.Sprintf("taker %d", i),
						TTL: time.Minute, Wait: time.Minute, Poll: 20 * time.Millisecond})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					switch {
					case excl > 0:
						errs <- fmt.Errorf("round %d: taker %d (%s) holds while an exclusive lease is held", round, i, mode)
					case mode == store.Exclusive && shared > 0:
						errs <- fmt.Errorf("round %d: taker %d holds the exclusive lease while %d shared are held", round, i, shared)
					}
					if mode == store.Exclusive {
						excl++
					} else {
						shared++
						maxShared = max(maxShared, shared)
					}
					mu.Unlock()
					acquired.Add(1)
					time.Sleep(time.Duration(1+rand.IntN(5)) * time.Millisecond)
					mu.Lock()
					if mode == store.Exclusive {
						excl--
					} else {
						shared--
					}
					mu.Unlock()
					if err := l.Held(ctx); err != nil {
						errs <- fmt.Errorf("taker %d lost its lease: %w", i, err)
					}
					if err := l.Release(ctx); err != nil {
						errs <- err
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := acquired.Load(); n != 2*takers {
			t.Fatalf("round %d: %d acquisitions, want %d", round, n, 2*takers)
		}
		if ls, err := store.Leases(ctx, b); err != nil || len(ls) != 0 {
			t.Fatalf("round %d: leases left after every taker released: %v %v", round, ls, err)
		}
	}
}

// TestStoreLockRefusedNamesHolder: two exclusive takers at once with no
// wait: at most one holds, the other is refused naming a holder; a shared
// taker then is refused naming the holder.
func TestStoreLockRefusedNamesHolder(t *testing.T) {
	ctx := context.Background()
	b := slowBackend{openStore(t, t.TempDir()).Backend()}
	for round := range 10 {
		var wg sync.WaitGroup
		locks := make([]*store.Lock, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				locks[i], errs[i] = store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: owner.Self(""), Purpose: fmt.Sprintf("prune %d", i)})
			}()
		}
		wg.Wait()
		held := 0
		for i, err := range errs {
			var le *store.LockedError
			switch {
			case err == nil:
				held++
			case !errors.As(err, &le) || !strings.HasPrefix(le.Holder.Purpose, "prune "):
				t.Fatalf("round %d: taker %d: %v, want a refusal naming the other", round, i, err)
			}
		}
		if held != 1 {
			t.Fatalf("round %d: %d holders of the exclusive lease", round, held)
		}
		_, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Shared, Owner: owner.Self(""), Purpose: "backup"})
		var le *store.LockedError
		if !errors.As(err, &le) || !strings.HasPrefix(le.Holder.Purpose, "prune ") || !strings.Contains(err.Error(), "host") {
			t.Fatalf("round %d: a backup while a prune holds: %v", round, err)
		}
		for _, l := range locks {
			if l != nil {
				l.Release(ctx)
			}
		}
	}
}

// TestStoreLockExpiredIsLost: a lease its owner failed to renew before it
// expired is lost (never renewed back to life), and taken over.
func TestStoreLockExpiredIsLost(t *testing.T) {
	ctx := context.Background()
	b := openStore(t, t.TempDir()).Backend()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	other := owner.Identity{Token: owner.NewToken(), Host: "elsewhere", PID: 1}
	l, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: other, Purpose: "prune", TTL: time.Minute, Renew: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	advance(30 * time.Second)
	if err := l.Held(ctx); err != nil {
		t.Fatalf("renewed in time: %v", err)
	}
	advance(65 * time.Second) // the renewed lease expired 5 s ago
	if err := l.Held(ctx); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("renewal of an expired lease: %v, want ErrLockLost", err)
	}
	l2, err := store.AcquireLock(ctx, b, store.LockOptions{Mode: store.Exclusive, Owner: owner.Self(""), Purpose: "prune 2", Now: clock})
	if err != nil {
		t.Fatalf("the expired lease was not taken over: %v", err)
	}
	if err := l.Held(ctx); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("the first owner after the takeover: %v", err)
	}
	l.Release(ctx)
	if err := l2.Held(ctx); err != nil {
		t.Fatalf("the first owner's release removed the new holder's lease: %v", err)
	}
	l2.Release(ctx)
}
