package store

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/internal/owner"
)

// Lease modes.
const (
	Shared    = "shared"
	Exclusive = "exclusive"
)

// Every lease is an object of its own, named by its mode, its owner's
// token and a random nonce (<mode>-<token>-<nonce>.json, created with the
// backend's create-exclusive), so no two takers ever write or remove the
// same key: a taker writes its lease first and then lists the others
// (an exclusive one in the way, or any live one for an exclusive taker,
// makes it remove its own and wait), and a lease that expired is never
// renewed by its owner (lost instead), so removing another owner's
// expired lease cannot remove a live one. Of two takers racing, at least
// one sees the other's lease; both may back off, then retry after a
// random delay. Leases of older dockpacks (exclusive.json,
// shared-<token>.json) are honoured the same way.

// Lease is a lock object in the store.
type Lease struct {
	Mode       string         `json:"mode"`
	Owner      owner.Identity `json:"owner"`
	Purpose    string         `json:"purpose"`
	AcquiredAt time.Time      `json:"acquired_at"`
	ExpiresAt  time.Time      `json:"expires_at"`
}

// String names the holder for humans.
func (l Lease) String() string {
	return fmt.Sprintf("%s (%s lease of host %s pid %d, since %s, until %s)", l.Purpose, l.Mode, l.Owner.Host, l.Owner.PID,
		l.AcquiredAt.UTC().Format(time.RFC3339), l.ExpiresAt.UTC().Format(time.RFC3339))
}

// ErrLocked: the store is locked by another live owner.
var ErrLocked = errors.New("store_locked")

// ErrLockLost: this process's lease is gone (taken over after it expired).
var ErrLockLost = errors.New("store lease lost")

// LockedError names the holder of the lease that refused a Lock.
type LockedError struct {
	Location string
	Holder   Lease
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s: the pack store in %s is in use by %s; try again when it is done", ErrLocked, e.Location, e.Holder)
}

// Is makes a LockedError match ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockOptions configure Lock.
type LockOptions struct {
	Mode    string // Shared or Exclusive
	Owner   owner.Identity
	Purpose string // "backup", "prune"
	// TTL is how long a lease lives unless renewed. Default 5 min.
	TTL time.Duration
	// Renew is how often it is renewed while held. Default TTL/5.
	Renew time.Duration
	// Wait is how long Lock waits for a live holder; 0 refuses at once.
	Wait time.Duration
	// Dead judges an owner. Default: provably dead on this host.
	Dead func(owner.Identity) bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Poll is how often a waiting Lock tries again (with up to 50 %
	// random jitter). Default 500 ms.
	Poll time.Duration
}

// Lock is a held lease.
type Lock struct {
	b     storage.Backend
	key   string
	o     LockOptions
	mu    sync.Mutex
	lease Lease
	lost  error
	stop  func()
}

func (o *LockOptions) applyDefaults() {
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.Renew <= 0 {
		o.Renew = o.TTL / 5
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Dead == nil {
		host, _ := os.Hostname()
		o.Dead = func(id owner.Identity) bool { return id.Dead(host) }
	}
	if o.Purpose == "" {
		o.Purpose = "dockpack"
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
}

// margin is how long before its expiry a lease is no longer renewed by
// its owner (it is lost instead): another process may judge it expired
// and remove it right then, and a late renewal must not resurrect it.
func (o LockOptions) margin() time.Duration { return o.TTL / 10 }

// jitter is d plus up to half of it at random.
func jitter(d time.Duration) time.Duration { return d + rand.N(d/2+1) }

// live reports whether a lease still holds.
func (o LockOptions) live(l Lease) bool {
	return o.Now().Before(l.ExpiresAt) && !o.Dead(l.Owner)
}

// AcquireLock takes a lease on the store in b, renewed in the background until Release.
func AcquireLock(ctx context.Context, b storage.Backend, o LockOptions) (*Lock, error) {
	o.applyDefaults()
	if o.Mode != Shared && o.Mode != Exclusive {
		return nil, fmt.Errorf("store lock: mode %q", o.Mode)
	}
	l := &Lock{b: b, o: o, key: LocksPrefix + o.Mode + "-" + o.Owner.Token + "-" + nonce() + ".json"}
	deadline := o.Now().Add(o.Wait)
	races := 0
	for {
		holder, raced, err := l.try(ctx)
		if err != nil {
			return nil, err
		}
		if holder == nil {
			break
		}
		wait := jitter(o.Poll)
		switch {
		case raced && races < 20:
			// The holder in the way was a taker that backed off too: try
			// again soon, without counting it against Wait.
			races++
			wait = jitter(o.Poll / 20)
		case !o.Now().Before(deadline):
			return nil, &LockedError{Location: b.Location(), Holder: *holder}
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(wait):
		}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go l.renewLoop(rctx, done)
	l.stop = func() { cancel(); <-done }
	return l, nil
}

// try takes the lease once: nil holder when taken, else the live holder
// in the way; raced when that holder's lease was gone right after (another
// taker that backed off as well).
func (l *Lock) try(ctx context.Context) (holder *Lease, raced bool, err error) {
	if err := l.removeDead(ctx); err != nil {
		return nil, false, err
	}
	now := l.o.Now()
	l.lease = Lease{Mode: l.o.Mode, Owner: l.o.Owner, Purpose: l.o.Purpose, AcquiredAt: now.UTC(), ExpiresAt: now.Add(l.o.TTL).UTC()}
	if err := l.write(ctx, true); err != nil {
		return nil, false, fmt.Errorf("store lock: %w", err)
	}
	others, err := l.others(ctx)
	if err != nil {
		_ = l.b.Remove(context.WithoutCancel(ctx), l.key)
		return nil, false, err
	}
	for _, h := range others {
		if l.o.Mode == Exclusive || h.Mode == Exclusive {
			if err := l.b.Remove(context.WithoutCancel(ctx), l.key); err != nil && !errors.Is(err, storage.ErrNotExist) {
				return nil, false, fmt.Errorf("store lock: backing off: %w", err)
			}
			_, err := l.b.Stat(ctx, h.key)
			return &h.Lease, errors.Is(err, storage.ErrNotExist), nil
		}
	}
	return nil, false, nil
}

// keyedLease is a lease and its key.
type keyedLease struct {
	Lease
	key string
}

// others are the live leases of other owners.
func (l *Lock) others(ctx context.Context) ([]keyedLease, error) {
	var out []keyedLease
	err := l.b.List(ctx, LocksPrefix, func(i storage.Info) error {
		if i.Key == l.key || !strings.HasSuffix(i.Key, ".json") {
			return nil
		}
		h, err := readLease(ctx, l.b, i.Key)
		if err != nil {
			if errors.Is(err, storage.ErrNotExist) {
				return nil // released meanwhile
			}
			h = Lease{Mode: Exclusive, Purpose: "an unreadable lease " + i.Key, ExpiresAt: l.o.Now().Add(time.Hour)}
		}
		if l.o.live(h) && h.Owner.Token != l.o.Owner.Token {
			out = append(out, keyedLease{h, i.Key})
		}
		return nil
	})
	return out, err
}

// removeDead removes the leases of dead or expired owners.
func (l *Lock) removeDead(ctx context.Context) error {
	var dead []string
	err := l.b.List(ctx, LocksPrefix, func(i storage.Info) error {
		h, err := readLease(ctx, l.b, i.Key)
		if err == nil && !l.o.live(h) && h.Owner.Token != l.o.Owner.Token {
			dead = append(dead, i.Key)
		}
		return nil
	})
	for _, k := range dead {
		// Read it again right before (a lease of an older dockpack may be
		// fresh again under the same key); an expired lease of ours is
		// never renewed.
		if h, err := readLease(ctx, l.b, k); err == nil && !l.o.live(h) {
			_ = l.b.Remove(ctx, k)
		}
	}
	return err
}

func readLease(ctx context.Context, b storage.Backend, key string) (Lease, error) {
	data, err := storage.ReadObject(ctx, b, key, 1<<16)
	if err != nil {
		return Lease{}, err
	}
	var l Lease
	if err := json.Unmarshal(data, &l); err != nil {
		return Lease{}, fmt.Errorf("lease %s: %w", key, err)
	}
	return l, nil
}

func (l *Lock) write(ctx context.Context, excl bool) error {
	data, err := json.MarshalIndent(l.lease, "", "  ")
	if err != nil {
		return err
	}
	_, err = storage.WriteObject(ctx, l.b, l.key, strings.NewReader(string(data)+"\n"), storage.CreateOptions{Exclusive: excl, Mode: 0o600})
	return err
}

func (l *Lock) renewLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(l.o.Renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.Renew(ctx); err != nil && ctx.Err() == nil {
			l.mu.Lock()
			if l.lost == nil && errors.Is(err, ErrLockLost) {
				l.lost = err
			}
			l.mu.Unlock()
		}
	}
}

// Renew extends the lease by its TTL from now, after checking that it is
// still this owner's (a lease taken over after it expired is lost).
func (l *Lock) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	h, err := readLease(ctx, l.b, l.key)
	switch {
	case errors.Is(err, storage.ErrNotExist) || (err == nil && h.Owner.Token != l.o.Owner.Token):
		l.lost = fmt.Errorf("%w: %s was removed or taken over (it expired at %s)", ErrLockLost, l.key, l.lease.ExpiresAt.Format(time.RFC3339))
		return l.lost
	case err != nil:
		return err
	}
	now := l.o.Now()
	if !now.Before(l.lease.ExpiresAt.Add(-l.o.margin())) {
		// Too late: another process may judge it expired and remove it
		// meanwhile; renewing could resurrect a lease it no longer sees.
		l.lost = fmt.Errorf("%w: %s expired at %s before it was renewed (at %s)", ErrLockLost, l.key,
			l.lease.ExpiresAt.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
		return l.lost
	}
	l.lease.ExpiresAt = now.Add(l.o.TTL).UTC()
	return l.write(ctx, false)
}

func nonce() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Held renews the lease now and reports whether it is still held: call it
// right before an act that needs the lock (a backup's manifest).
func (l *Lock) Held(ctx context.Context) error { return l.Renew(ctx) }

// Release stops renewing and removes the lease.
func (l *Lock) Release(ctx context.Context) error {
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, err := readLease(ctx, l.b, l.key); err == nil && h.Owner.Token != l.o.Owner.Token {
		return nil // not ours any more
	}
	return l.b.Remove(context.WithoutCancel(ctx), l.key)
}

// Leases lists the store's leases (for doctor and messages).
func Leases(ctx context.Context, b storage.Backend) ([]Lease, error) {
	var out []Lease
	err := b.List(ctx, LocksPrefix, func(i storage.Info) error {
		if h, err := readLease(ctx, b, i.Key); err == nil {
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// LiveTokens are the tokens of the live leases' owners (judged by o's Dead and Now).
func LiveTokens(ctx context.Context, b storage.Backend, o LockOptions) (map[string]bool, error) {
	o.applyDefaults()
	ls, err := Leases(ctx, b)
	out := map[string]bool{}
	for _, l := range ls {
		if o.live(l) {
			out[l.Owner.Token] = true
		}
	}
	return out, err
}
