package tarcheck_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

// seedArchives are the fixtures (complete, cut and with appended errors)
// every fuzz target starts from.
func seedArchives(f *testing.F) [][]byte {
	L := MustTar(f, MustLegacy(f).entries...)
	O := MustTar(f, MustOCI(f).entries...)
	V := MustTar(f, volumeEntries()...)
	return [][]byte{
		L.data, O.data, V.data,
		MustTar(f).data,
		L.data[:L.ends[5]],
		L.data[:L.ends[3]-600],
		cat(L.data[:L.ends[5]], engineJSON(enospc)),
		cat(O.data, engineJSON(enospc)),
		cat(V.data, make([]byte, 4096)),
		[]byte("not a tar"),
	}
}

// checkResult asserts what must hold for any input: a failure wraps
// ErrIncomplete, a success consumed the whole input.
func checkResult(t *testing.T, what string, in []byte, n int64, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, tarcheck.ErrIncomplete) {
			t.Fatalf("%s: error does not wrap ErrIncomplete: %v", what, err)
		}
		if n > int64(len(in)) {
			t.Fatalf("%s: Bytes %d > input %d", what, n, len(in))
		}
		return
	}
	if n != int64(len(in)) {
		t.Fatalf("%s succeeded after consuming %d of %d bytes", what, n, len(in))
	}
}

// variants returns in and, when it differs, a copy whose tar header
// checksums are recomputed, so that mutated header fields reach the code
// behind archive/tar's checksum test.
func variants(in []byte) [][]byte {
	fixed := bytes.Clone(in)
	changed := false
	for off := 0; off+512 <= len(fixed); off += 512 {
		blk := fixed[off : off+512]
		if !bytes.Equal(blk[257:262], []byte("ustar")) {
			continue
		}
		copy(blk[148:156], "        ")
		sum := 0
		for _, c := range blk {
			sum += int(c)
		}
		chk := fmt.Sprintf("%06o\x00 ", sum)
		if !bytes.Equal(in[off+148:off+156], []byte(chk)) {
			changed = true
		}
		copy(blk[148:156], chk)
	}
	if !changed {
		return [][]byte{in}
	}
	return [][]byte{in, fixed}
}

func FuzzValidateImageArchive(f *testing.F) {
	for _, s := range seedArchives(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, in := range variants(raw) {
			fuzzImage(t, in)
		}
	})
}

func fuzzImage(t *testing.T, in []byte) {
	a, err := tarcheck.ValidateImageArchive(context.Background(), bytes.NewReader(in))
	checkResult(t, "ValidateImageArchive", in, a.Bytes, err)
	if err == nil && len(a.Images) == 0 {
		t.Fatalf("success without images: %+v", a)
	}
}

func FuzzValidateTar(f *testing.F) {
	for _, s := range seedArchives(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, in := range variants(raw) {
			sum, err := tarcheck.ValidateTar(context.Background(), bytes.NewReader(in))
			checkResult(t, "ValidateTar", in, sum.Bytes, err)
			if err == nil && sum.Files+sum.Dirs+sum.Symlinks+sum.HardLinks+sum.Others != sum.Entries {
				t.Fatalf("summary counts do not add up: %+v", sum)
			}
		}
	})
}

// FuzzRebaseTar: never panics; when it succeeds, its output is a complete tar
// with the same entries (ValidateTar accepts it).
func FuzzRebaseTar(f *testing.F) {
	for _, s := range seedArchives(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, in := range variants(raw) {
			fuzzRebase(t, in)
		}
	})
}

func fuzzRebase(t *testing.T, in []byte) {
	var out bytes.Buffer
	sum, err := tarcheck.RebaseTar(context.Background(), bytes.NewReader(in), &out)
	checkResult(t, "RebaseTar", in, sum.Bytes, err)
	if err != nil {
		return
	}
	osum, err := tarcheck.ValidateTar(context.Background(), bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("RebaseTar output does not validate: %v", err)
	}
	if osum.Entries != sum.Entries || osum.Files != sum.Files || osum.ContentBytes != sum.ContentBytes {
		t.Fatalf("output summary %+v differs from the input's %+v", osum, sum)
	}
}
