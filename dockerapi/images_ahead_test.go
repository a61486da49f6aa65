package dockerapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
)

// The read-ahead hands on every byte in order (Read in odd sizes and
// WriteTo alike), then r's error; a read after stop fails instead of
// returning nothing forever.
func TestAheadReader(t *testing.T) {
	data := make([]byte, 5*aheadBlockSize+12345)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	a := newAheadReader(iotest.HalfReader(bytes.NewReader(data)))
	got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(a, 1000)))
	if err != nil || !bytes.Equal(got, data[:1000]) {
		t.Fatalf("first bytes: %v", err)
	}
	var rest bytes.Buffer
	if n, err := a.WriteTo(&rest); err != nil || n != int64(len(data)-1000) || !bytes.Equal(rest.Bytes(), data[1000:]) {
		t.Fatalf("WriteTo: %d %v", n, err)
	}
	a.stop(context.Background())

	boom := errors.New("boom")
	a = newAheadReader(io.MultiReader(bytes.NewReader(data[:3000]), iotest.ErrReader(boom)))
	got, err = io.ReadAll(a)
	if !errors.Is(err, boom) || !bytes.Equal(got, data[:3000]) {
		t.Fatalf("an error after 3000 bytes: %d bytes, %v", len(got), err)
	}

	pr, pw := io.Pipe()
	go pw.Write(data[:10])
	a = newAheadReader(pr) // blocked reading a pipe that sends nothing more
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a.stop(ctx) // returns once ctx ends
	pw.Close()
	if _, err := io.ReadAll(a); !errors.Is(err, errAheadStopped) {
		t.Fatalf("read after stop: %v", err)
	}
}

// ended tells when the source ended, once the reading goroutine has
// exited because it did; not while it reads, nor after a stop.
func TestAheadReaderEnded(t *testing.T) {
	pr, pw := io.Pipe()
	a := newAheadReader(pr)
	if _, ok := a.ended(); ok {
		t.Fatal("ended while the source is open")
	}
	before := time.Now()
	go func() { pw.Write([]byte("x")); pw.Close() }()
	if b, err := io.ReadAll(a); err != nil || string(b) != "x" {
		t.Fatalf("ReadAll: %q %v", b, err)
	}
	a.stop(context.Background())
	if end, ok := a.ended(); !ok || end.Before(before) {
		t.Fatalf("after the end: %v %v", end, ok)
	}

	pr, pw = io.Pipe()
	defer pw.Close()
	a = newAheadReader(pr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	a.stop(ctx)
	if _, ok := a.ended(); ok {
		t.Fatal("ended after a stop, the source still open")
	}
}
