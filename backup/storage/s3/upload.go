package s3

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dockpack/dockpack/backup/storage"
)

// upload is one object being written: parts go up while the caller
// writes; Commit completes it (or PUTs a small object whole).
type upload struct {
	b    *Backend
	key  string
	opts storage.CreateOptions
	meta map[string]string
	// nonce tags the object this upload makes (metadata dockpack-upload):
	// an Abort after a Complete whose answer was lost deletes it only if
	// it is ours.
	nonce string

	// ctx is the Create ctx with a cancel of our own: a failed part stops
	// the others, and a canceled ctx aborts the upload (stopAbort undoes
	// that once Commit starts).
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopAbort func() bool

	buf      *[]byte // the part being filled
	tracked  bool    // buf came from the backend's budget (b.mem)
	partSize int64
	size     int64
	started  time.Time

	mp *multipart // nil until the first part is full
	wg sync.WaitGroup
	mu sync.Mutex // guards err and mp.parts (written by the part goroutines)
	// err is the first error of a part.
	err error

	// op serialises Write, Commit and Abort (a canceled ctx calls Abort
	// from another goroutine); state is read and written under it.
	op    sync.Mutex
	state uploadState
}

type uploadState int

const (
	writing uploadState = iota
	committing
	committed
	completeFailed // Complete was sent and failed: it may have happened
	aborted
)

// Create starts writing key: nothing is visible under it until Commit.
func (b *Backend) Create(ctx context.Context, key string, o storage.CreateOptions) (storage.Upload, error) {
	if err := b.checkKey(key); err != nil {
		return nil, err
	}
	if err := validMeta(o.Meta); err != nil {
		return nil, fmt.Errorf("s3 create %s/%s: %w", b.Location(), key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u := &upload{b: b, key: key, opts: o, nonce: newNonce(), partSize: b.partSizeFor(o.SizeHint), started: time.Now()}
	u.meta = b.ownerMeta(o.Meta)
	u.meta[metaUpload] = u.nonce
	u.ctx, u.cancel = context.WithCancelCause(ctx)
	// A canceled ctx aborts the upload even if the caller never calls
	// Abort: nothing stays behind.
	u.stopAbort = context.AfterFunc(ctx, func() { _ = u.Abort(ctx) })
	return u, nil
}

// metaUpload is the metadata key of an upload's nonce.
const metaUpload = "dockpack-upload"

// partSizeFor is the part size of an object of about hint bytes: the
// backend's, raised so the object fits in 9,000 parts (room for a stream
// longer than its hint), in whole MiB.
func (b *Backend) partSizeFor(hint int64) int64 {
	ps := b.o.PartSize
	if hint > 0 {
		need := (hint + 8999) / 9000
		need = (need + 1<<20 - 1) &^ (1<<20 - 1)
		ps = max(ps, need)
	}
	return min(ps, MaxPartSize)
}

// currentPartSize grows the part size of a stream longer than its hint:
// doubled every 1,000 parts, so 10,000 parts hold far more than any pack.
func (u *upload) currentPartSize(partNum int32) int64 {
	grow := (int(partNum) - 1) / 1000
	return min(u.partSize<<grow, MaxPartSize)
}

func (u *upload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel(err)
}

func (u *upload) firstErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// Write buffers p and sends each full part.
func (u *upload) Write(p []byte) (int, error) {
	u.op.Lock()
	defer u.op.Unlock()
	if u.state != writing {
		return 0, u.closedErr()
	}
	written := 0
	for len(p) > 0 {
		if err := u.firstErr(); err != nil {
			return written, err
		}
		if err := u.ctx.Err(); err != nil {
			return written, context.Cause(u.ctx)
		}
		limit := u.limit()
		if err := u.room(limit, int64(len(p))); err != nil {
			u.fail(err)
			return written, err
		}
		buf := *u.buf
		n := min(int64(len(p)), limit-int64(len(buf)))
		buf = append(buf, p[:n]...)
		*u.buf = buf
		p = p[n:]
		written += int(n)
		u.size += n
		if int64(len(buf)) == limit {
			if err := u.sendPart(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// limit is the size of the part being filled.
func (u *upload) limit() int64 {
	next := int32(1)
	if u.mp != nil {
		next = u.mp.next
	}
	return u.currentPartSize(next)
}

// smallBuf bounds the first buffer of an object of unknown size that is
// not taken from the budget: it grows by appends up to this, and an object
// larger than that moves to a part buffer of the budget (most objects —
// manifests, sums, records, markers — stay far below it).
const smallBuf = 1 << 20

// room makes sure the part being filled (of limit bytes) can take the next
// n bytes: a first buffer sized by the size hint (a whole part when the
// object needs parts), a small growing one for an object of unknown size,
// a part buffer from the budget once the object outgrows smallBuf.
func (u *upload) room(limit, n int64) error {
	if u.buf == nil && u.mp == nil && u.opts.SizeHint <= 0 {
		s := make([]byte, 0, max(min(n, smallBuf), 64<<10))
		u.buf, u.tracked = &s, false
		return nil
	}
	if u.buf == nil {
		size := limit
		if u.mp == nil { // the first part: no larger than the hinted object
			size = min(max(u.opts.SizeHint, n), limit)
		}
		if size <= smallBuf {
			s := make([]byte, 0, size)
			u.buf, u.tracked = &s, false
			return nil
		}
		bp, err := u.b.mem.get(u.ctx, size)
		if err != nil {
			return err
		}
		u.buf, u.tracked = bp, true
		return nil
	}
	have := int64(len(*u.buf))
	need := have + min(n, limit-have)
	if need <= int64(cap(*u.buf)) || (!u.tracked && need <= smallBuf) {
		return nil // room enough, or a small buffer that may still grow by append
	}
	bp, err := u.b.mem.get(u.ctx, limit)
	if err != nil {
		return err
	}
	*bp = append(*bp, *u.buf...)
	u.dropBuf()
	u.buf, u.tracked = bp, true
	return nil
}

// dropBuf gives the buffer being filled back (to the budget when it came
// from there).
func (u *upload) dropBuf() {
	if u.buf != nil && u.tracked {
		u.b.mem.put(u.buf)
	}
	u.buf, u.tracked = nil, false
}

// sendPart starts the multipart upload if needed and sends the full
// buffer as its next part, in the background.
func (u *upload) sendPart() error {
	if u.mp == nil {
		mp, err := u.b.startMultipart(u.ctx, u.key, u.meta, u.opts.Exclusive)
		if err != nil {
			u.fail(err)
			return err
		}
		u.mp = mp
	}
	if err := u.b.acquire(u.ctx); err != nil {
		u.fail(err)
		return err
	}
	bp, mp, tracked := u.buf, u.mp, u.tracked
	u.buf, u.tracked = nil, false
	num := mp.next
	mp.next++
	u.b.mem.fly()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.b.release()
		defer u.b.mem.land(bp, tracked)
		part, err := u.b.uploadPart(u.ctx, mp, num, *bp)
		if err != nil {
			u.fail(err)
			return
		}
		u.mu.Lock()
		mp.parts = append(mp.parts, part)
		u.mu.Unlock()
	}()
	return nil
}

// Commit makes the object visible: the whole object in one PUT when it
// fits in a part, else the last part and the completion of the upload.
func (u *upload) Commit(ctx context.Context) (storage.Info, error) {
	u.op.Lock()
	defer u.op.Unlock()
	switch u.state {
	case committed:
		return storage.Info{}, errors.New("s3 upload already committed")
	case writing:
	default:
		return storage.Info{}, u.closedErr()
	}
	if !u.stopAbort() {
		return storage.Info{}, fmt.Errorf("s3 commit %s/%s: %w", u.b.Location(), u.key, context.Cause(u.ctx))
	}
	u.state = committing
	info, err := u.commit(ctx)
	if err != nil {
		// A failed Commit leaves nothing: the upload is aborted here (the
		// caller's Abort is then a no-op).
		if aerr := u.abortLocked(ctx); aerr != nil {
			u.b.o.Logger.Sugar().Warnw("s3: aborting a failed upload", "target", u.b.Location(), "key", u.key, "error", aerr)
		}
		return storage.Info{}, err
	}
	u.state = committed
	u.cancel(nil)
	return info, nil
}

func (u *upload) commit(ctx context.Context) (storage.Info, error) {
	if u.mp == nil {
		return u.putWhole(ctx)
	}
	if u.buf != nil && len(*u.buf) > 0 {
		if err := u.sendPart(); err != nil {
			return storage.Info{}, err
		}
	}
	u.dropBuf()
	u.wg.Wait()
	if err := u.firstErr(); err != nil {
		return storage.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, err
	}
	slices.SortFunc(u.mp.parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	if err := u.b.complete(ctx, u, u.mp); err != nil {
		return storage.Info{}, err
	}
	u.b.dropMarker(ctx, u.mp)
	return u.info(), nil
}

// putWhole PUTs an object that fits in one part.
func (u *upload) putWhole(ctx context.Context) (storage.Info, error) {
	var data []byte
	if u.buf != nil {
		data = *u.buf
	}
	if err := u.b.putExclusiveAware(ctx, u, data); err != nil {
		return storage.Info{}, err
	}
	u.dropBuf()
	return u.info(), nil
}

func (u *upload) info() storage.Info {
	return storage.Info{Key: u.key, Size: u.size, ModTime: time.Now(), Meta: u.meta}
}

// closedErr is the error of a write or commit after the upload ended: the
// ctx's cause when a canceled ctx aborted it.
func (u *upload) closedErr() error {
	if u.state == aborted && u.ctx.Err() != nil {
		if cause := context.Cause(u.ctx); cause != errClosed {
			return fmt.Errorf("s3 upload of %s/%s aborted: %w", u.b.Location(), u.key, cause)
		}
	}
	return errClosed
}

// Abort discards the upload: the multipart upload is aborted and its
// marker removed; after a Complete whose answer was lost, the object is
// removed if it is ours. Safe after Commit (a no-op) and more than once.
func (u *upload) Abort(ctx context.Context) error {
	u.op.Lock()
	defer u.op.Unlock()
	return u.abortLocked(ctx)
}

func (u *upload) abortLocked(ctx context.Context) error {
	// Aborting must work with the caller's canceled ctx.
	ctx, cancel := bgCtx(ctx)
	defer cancel()
	state := u.state
	if state == committed || state == aborted {
		return nil
	}
	u.state = aborted
	u.stopAbort()
	u.cancel(errClosed)
	u.wg.Wait()
	u.dropBuf()
	var errs []error
	if u.mp != nil {
		errs = append(errs, u.b.abortMultipart(ctx, u.mp))
	}
	if state == completeFailed {
		errs = append(errs, u.b.removeIfOurs(ctx, u.key, u.nonce))
	}
	return errors.Join(errs...)
}
