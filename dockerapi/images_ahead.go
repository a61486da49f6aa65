package dockerapi

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// An ImageLoad upload is read ahead of the engine: a pack file hashed as
// it is read (in blocks of 1 MiB), or an archive assembled from a store's
// chunks, while the previous blocks go to the engine; each side waits for
// the other only when the blocks run out, not on every read. (An ImageSave
// body is not: reading the socket ahead cost half as much CPU again there;
// reading ahead here took a fifth off a restore's CPU — BenchmarkImagesClassic.)
const (
	aheadBlocks    = 4
	aheadBlockSize = 1 << 20
)

// aheadReader reads r in a goroutine of its own into up to aheadBlocks
// filled blocks (each what one read of r gave). Read and WriteTo hand them on in order; r's error (io.EOF
// at the end) comes after the last block.
type aheadReader struct {
	filled chan []byte
	free   chan []byte
	done   chan struct{}
	exited chan struct{}
	once   sync.Once
	err    error     // r's error; read after filled is closed
	end    time.Time // when r ended (its error, io.EOF at the end); read after filled is closed

	cur []byte // what is left of the block being consumed
	blk []byte // that block, to be handed back
}

func newAheadReader(r io.Reader) *aheadReader {
	a := &aheadReader{filled: make(chan []byte, aheadBlocks), free: make(chan []byte, aheadBlocks+1),
		done: make(chan struct{}), exited: make(chan struct{})}
	for range aheadBlocks + 1 {
		a.free <- make([]byte, aheadBlockSize)
	}
	go a.fill(r)
	return a
}

// errAheadStopped is what a read after stop gets.
var errAheadStopped = errors.New("image stream: reading ahead stopped")

func (a *aheadReader) fill(r io.Reader) {
	defer func() {
		if a.err == nil {
			a.err = errAheadStopped
		}
		close(a.filled)
		close(a.exited)
	}()
	for {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.done:
			return
		}
		// One read per block: what the source has now (a socket's buffer,
		// up to a block of a file or a pipe's write) goes on at once.
		n, err := r.Read(b)
		for n == 0 && err == nil {
			n, err = r.Read(b)
		}
		select {
		case <-a.done: // stopped while reading: nothing more is handed on
			return
		default:
		}
		if n > 0 {
			select {
			case a.filled <- b[:n]:
			case <-a.done:
				return
			}
		}
		if err != nil {
			a.err, a.end = err, time.Now()
			return
		}
	}
}

// next makes the next block current; false at the end (err set).
func (a *aheadReader) next() bool {
	if a.blk != nil {
		a.free <- a.blk[:cap(a.blk)] // never blocks: there are aheadBlocks+1 blocks
		a.blk = nil
	}
	b, ok := <-a.filled
	if !ok {
		return false
	}
	a.cur, a.blk = b, b
	return true
}

func (a *aheadReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(a.cur) == 0 && !a.next() {
		return 0, a.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// WriteTo writes whole blocks (io.Copy uses it: an upload then goes out
// in blocks, not in 32 KiB pieces).
func (a *aheadReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(a.cur) == 0 && !a.next() {
			if errors.Is(a.err, io.EOF) {
				return total, nil
			}
			return total, a.err
		}
		n, err := w.Write(a.cur)
		total += int64(n)
		a.cur = a.cur[n:]
		if err != nil {
			return total, err
		}
	}
}

// ended is when r ended, once the reading goroutine has exited because it
// did (false while it reads, or when it was stopped).
func (a *aheadReader) ended() (time.Time, bool) {
	select {
	case <-a.exited:
		return a.end, !a.end.IsZero()
	default:
		return time.Time{}, false
	}
}

// stop ends the reading goroutine and waits until it no longer reads r —
// unless ctx ends first (a read blocked in r then ends with r: its owner
// closes it or its writer goes away).
func (a *aheadReader) stop(ctx context.Context) {
	a.once.Do(func() { close(a.done) })
	select {
	case <-a.exited:
	case <-ctx.Done():
	}
}
