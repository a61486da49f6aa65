package storagetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/storage"
)

// abortStale: a dead owner's upload (parts sent, then nothing: no Commit,
// no Abort) is aborted by another backend's AbortStale; a live owner's
// upload in progress is left alone and commits.
func (s *suite) abortStale(t *testing.T) {
	if s.o.Reopen == nil || s.o.Pending == nil {
		t.Skip("needs Options.Reopen and Options.Pending")
	}
	b := s.newBackend(t)
	ctx := ctxFor(t)
	dead := s.o.Reopen(t, b, "owner-dead")
	live := s.o.Reopen(t, b, "owner-live")
	du, err := dead.Create(context.Background(), "stale.tar", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := du.Write(randomData(11, 2*s.o.PartSize+1)); err != nil {
		t.Fatal(err)
	}
	lu, err := live.Create(ctx, "live.tar", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	liveData := randomData(12, 2*s.o.PartSize+1)
	if _, err := lu.Write(liveData); err != nil {
		t.Fatal(err)
	}
	var judged []string
	n, err := b.AbortStale(ctx, func(owner string) bool {
		judged = append(judged, owner)
		return owner == "owner-dead"
	})
	if err != nil || n < 1 {
		t.Fatalf("AbortStale = %d, %v (owners judged %q); want ≥ 1 upload aborted", n, err, judged)
	}
	if _, err := lu.Commit(ctx); err != nil {
		t.Fatalf("the live owner's upload after AbortStale: %v", err)
	}
	if got := get(t, b, "live.tar"); !bytes.Equal(got, liveData) {
		t.Error("the live owner's object differs")
	}
	absent(t, b, "stale.tar")
	s.noPending(t, b)
	if n, err := b.AbortStale(ctx, func(string) bool { return true }); err != nil || n != 0 {
		t.Errorf("a second AbortStale = %d, %v; want 0, nil", n, err)
	}
}

func (s *suite) wrongCredentials(t *testing.T) {
	if s.o.WrongCredentials == nil {
		t.Skip("the backend has no credentials (Options.WrongCredentials)")
	}
	b := s.newBackend(t)
	wb := s.o.WrongCredentials(t, b)
	ctx := ctxFor(t)
	err := wb.Check(ctx)
	t.Logf("Check with wrong credentials: %v", err)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Check with wrong credentials: %v, want ErrUnavailable", err)
	}
	if _, err := storage.WriteObject(ctx, wb, "denied", bytes.NewReader([]byte("x")), storage.CreateOptions{}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("writing with wrong credentials: %v, want ErrUnavailable", err)
	}
	if _, err := storage.WriteObject(ctx, wb, "denied-big", bytes.NewReader(randomData(13, s.o.PartSize+1)), storage.CreateOptions{}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("streaming with wrong credentials: %v, want ErrUnavailable", err)
	}
	if _, err := wb.Stat(ctx, "denied"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Stat with wrong credentials: %v, want ErrUnavailable", err)
	}
	if err := wb.List(ctx, "", func(storage.Info) error { return nil }); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("List with wrong credentials: %v, want ErrUnavailable", err)
	}
	absent(t, b, "denied")
	absent(t, b, "denied-big")
}

func (s *suite) missing(t *testing.T) {
	if s.o.Missing == nil {
		t.Skip("no Options.Missing")
	}
	mb, err := s.o.Missing(t)
	if err != nil {
		t.Logf("opening a missing target: %v", err)
		return
	}
	ctx := ctxFor(t)
	err = mb.Check(ctx)
	t.Logf("Check of a missing target: %v", err)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Check of a missing target: %v, want ErrUnavailable", err)
	}
	if _, err := storage.WriteObject(ctx, mb, "x", bytes.NewReader([]byte("x")), storage.CreateOptions{}); err == nil {
		t.Error("writing to a missing target succeeded")
	}
	if err := mb.List(ctx, "", func(storage.Info) error { return nil }); err == nil {
		t.Error("listing a missing target succeeded")
	}
}

// serverKilled: the service dies mid-upload; the writer gets a clear error
// soon, nothing is visible once it is back, and the upload it left is
// aborted by AbortStale.
func (s *suite) serverKilled(t *testing.T) {
	if s.o.Kill == nil || s.o.Resume == nil {
		t.Skip("no Options.Kill and Options.Resume")
	}
	b := s.newBackend(t)
	ctx := ctxFor(t)
	u, err := b.Create(ctx, "killed.tar", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(randomData(14, 2*s.o.PartSize+100)); err != nil {
		t.Fatal(err)
	}
	s.o.Kill(t)
	killed := time.Now()
	chunk := randomData(15, 1<<20)
	for i := 0; i < int(8*s.o.PartSize>>20) && err == nil; i++ {
		_, err = u.Write(chunk)
	}
	if err == nil {
		_, err = u.Commit(ctx)
	}
	took := time.Since(killed)
	_ = u.Abort(ctx)
	t.Logf("writing after the server was killed: %v (after %s)", err, took.Round(time.Millisecond))
	if err == nil {
		t.Fatal("the upload succeeded with the server killed")
	}
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("error %v; want one matching storage.ErrUnavailable (a clear 'unreachable')", err)
	}
	if took > 2*time.Minute {
		t.Errorf("the error took %s", took)
	}
	s.o.Resume(t)
	absent(t, b, "killed.tar")
	if s.o.Pending != nil {
		if _, err := b.AbortStale(ctx, func(string) bool { return true }); err != nil {
			t.Errorf("AbortStale after the restart: %v", err)
		}
		s.noPending(t, b)
	}
	put(t, b, "after-restart", []byte("ok"), storage.CreateOptions{})
}

// fullDisk: a stream larger than the free space behind the service fails
// with an error, leaves nothing, and the target takes objects again.
func (s *suite) fullDisk(t *testing.T) {
	if s.o.Full == nil {
		t.Skip("no Options.Full")
	}
	b := s.o.Full(t)
	ctx := ctxFor(t)
	size := s.o.FullFree + 2*s.o.PartSize
	_, err := writeStream(ctx, b, "too-big.tar", NewStream(16, size), storage.CreateOptions{})
	t.Logf("writing %d bytes onto %d free: %v", size, s.o.FullFree, err)
	if err == nil {
		t.Fatal("a stream larger than the free space was written")
	}
	absent(t, b, "too-big.tar")
	s.noPending(t, b)
	put(t, b, "small-after-full", []byte("room again"), storage.CreateOptions{})
}
