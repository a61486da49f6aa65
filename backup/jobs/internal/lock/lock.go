// Package lock is the backup lock's lease: one row in backup_locks (name =
// 'backup') names the owner (random token, host, pid, process start), the
// job it runs, and when the lease was acquired and expires. It is taken,
// together with the job row, in one BEGIN IMMEDIATE transaction; its holder
// renews it every third of the lease. An expired lease, or one whose owner
// is provably dead on this host, is taken over without anyone deleting rows
// by hand, and every job the old owner left active is recovered (failed,
// error code interrupted). Backups, restore drills, real restores and
// verifications all hold it through a Lease.
package lock

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/internal/owner"
)

// Lease is one holding of the backup lock.
type Lease struct {
	DB       *statedb.DB
	Token    string
	JobID    int64
	Duration time.Duration
	Now      func() time.Time
	// Ctx is the context of the holder's own writes (renewal, release).
	Ctx func() (context.Context, context.CancelFunc)
}

// Renew extends the lease; ok is false when it was taken over (or released).
func (ls Lease) Renew() (ok bool, err error) {
	now := ls.Now()
	ctx, cancel := ls.Ctx()
	defer cancel()
	err = ls.DB.Write(ctx, func(tx *statedb.Tx) error {
		var err error
		ok, err = tx.RenewLock(ls.Token, ls.JobID, now.UnixMilli(), now.Add(ls.Duration).UnixMilli())
		return err
	})
	return ok, err
}

// Held reports whether the lease is still this holder's.
func (ls Lease) Held(ctx context.Context) (bool, error) {
	var owner bool
	err := ls.DB.Read(ctx, func(tx *statedb.Tx) error {
		l, err := tx.Lock()
		owner = err == nil && l != nil && l.OwnerToken == ls.Token && l.JobID == ls.JobID
		return err
	})
	return owner, err
}

// Release deletes the lock row if this holder still holds it; released is
// false when it had passed to another owner already.
func (ls Lease) Release() (released bool, err error) {
	ctx, cancel := ls.Ctx()
	defer cancel()
	err = ls.DB.Write(ctx, func(tx *statedb.Tx) error {
		var err error
		released, err = tx.ReleaseLock(ls.Token, ls.JobID)
		return err
	})
	return released, err
}

// Keep renews the lease every third of its duration until stop is closed or
// ctx ends; lost is called (once) when another process took it over.
func (ls Lease) Keep(ctx context.Context, stop <-chan struct{}, lost func(error), warn func(error)) {
	t := time.NewTicker(max(ls.Duration/3, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := ls.Renew()
		switch {
		case err != nil:
			warn(err)
		case !ok:
			lost(fmt.Errorf("%w: another process took over the backup lock", backup.ErrLeaseLost))
			return
		}
	}
}

// Info describes the lock row, for doctor and metrics.
type Info struct {
	// Held: a row exists and its lease is live (not expired, owner not provably dead).
	Held  bool  `json:"held"`
	JobID int64 `json:"job_id"`
	// OwnerToken is a short prefix of the owner's token, never the whole token.
	OwnerToken string    `json:"owner_token"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Stale: a row exists but the next Start would take it over; StaleReason says why.
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason,omitempty"`
}

// InfoOf describes a lock row judged live or not (why).
func InfoOf(l *statedb.Lock, live bool, why string) Info {
	if l == nil {
		return Info{}
	}
	return Info{
		Held: live, JobID: l.JobID, OwnerToken: owner.ShortToken(l.OwnerToken), Host: l.Host, PID: l.PID,
		AcquiredAt: time.UnixMilli(l.AcquiredAtMs).UTC(), RenewedAt: time.UnixMilli(l.RenewedAtMs).UTC(),
		ExpiresAt: time.UnixMilli(l.ExpiresAtMs).UTC(), Stale: !live, StaleReason: why,
	}
}

// Judge is the lease rule for a lease the caller does not own (a
// reader, or a Manager looking at another process's lease): live until it
// expires, unless its owner is on this host and provably dead.
func Judge(l *statedb.Lock, now time.Time, host string, alive func(int, string) bool) (live bool, why string) {
	if now.UnixMilli() >= l.ExpiresAtMs {
		return false, fmt.Sprintf("the lease of job %d (%s) expired at %s", l.JobID, l.Owner(),
			time.UnixMilli(l.ExpiresAtMs).UTC().Format(time.RFC3339Nano))
	}
	if l.Host == host && !alive(l.PID, l.ProcStart) {
		return false, fmt.Sprintf("the owner of job %d (%s) is not running any more (pid gone or reused)", l.JobID, l.Owner())
	}
	return true, ""
}

// MarshalJSON leaves out the times of a free lock instead of printing year 1.
func (l Info) MarshalJSON() ([]byte, error) {
	type plain Info
	out := struct {
		plain
		AcquiredAt *time.Time `json:"acquired_at,omitempty"`
		RenewedAt  *time.Time `json:"renewed_at,omitempty"`
		ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	}{plain: plain(l)}
	for _, f := range []struct {
		src time.Time
		dst **time.Time
	}{{l.AcquiredAt, &out.AcquiredAt}, {l.RenewedAt, &out.RenewedAt}, {l.ExpiresAt, &out.ExpiresAt}} {
		if !f.src.IsZero() {
			t := f.src
			*f.dst = &t
		}
	}
	return json.Marshal(out)
}
