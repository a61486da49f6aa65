package backup

import (
	"bytes"
	"errors"
	"testing"
)

// failAfter writes up to n bytes, then fails.
type failAfter struct {
	buf bytes.Buffer
	n   int
}

var errDisk = errors.New("disk gone")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.buf.Len()+len(p) > f.n {
		return 0, errDisk
	}
	return f.buf.Write(p)
}

// writeBehind (the sealed writer's second goroutine) writes every byte in
// order, even when the caller reuses its buffer, and a failed write fails
// a later Write or Close.
func TestWriteBehind(t *testing.T) {
	var want bytes.Buffer
	dst := &failAfter{n: 1 << 30}
	wb := newWriteBehind(dst)
	p := make([]byte, 65536+16)
	for i := range 200 {
		for j := range p {
			p[j] = byte(i + j)
		}
		want.Write(p[:i*300%len(p)+1])
		if _, err := wb.Write(p[:i*300%len(p)+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Close(); err != nil || !bytes.Equal(dst.buf.Bytes(), want.Bytes()) {
		t.Fatalf("close %v; %d bytes written, want %d equal", err, dst.buf.Len(), want.Len())
	}

	wb = newWriteBehind(&failAfter{n: 100 << 10})
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = wb.Write(make([]byte, 64<<10))
	}
	if cerr := wb.Close(); !errors.Is(cerr, errDisk) || (err != nil && !errors.Is(err, errDisk)) {
		t.Fatalf("a failed write: write %v, close %v", err, cerr)
	}
}
