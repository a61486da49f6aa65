package tarcheck_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

// walked is what a Walker saw: each member's name, type and size, and the
// content of the kept ones; where it said the end came.
type walked struct {
	names []string
	kept  map[string]string
	end   int // offset of the byte whose Feed first said ended, -1 never
	err   error
}

// walk feeds in to a Walker (keeping .json files) in pieces of random
// sizes (seed), and finishes it.
func walk(in []byte, seed uint64) walked {
	w := walked{kept: map[string]string{}, end: -1}
	tw := &tarcheck.Walker{
		Keep: func(h *tar.Header) bool { return strings.HasSuffix(h.Name, ".json") },
		Max:  1 << 20,
		Member: func(h *tar.Header, content []byte) error {
			w.names = append(w.names, h.Name)
			if content != nil {
				w.kept[h.Name] = string(content)
			}
			return nil
		},
	}
	rnd := rand.New(rand.NewPCG(seed, 7))
	for off := 0; off < len(in); {
		n := min(len(in)-off, 1+rnd.IntN(700))
		if seed%3 == 0 {
			n = min(len(in)-off, 1+rnd.IntN(3)) // tiny pieces
		}
		ended, err := tw.Feed(in[off : off+n])
		if err != nil {
			w.err = err
			return w
		}
		if ended && w.end < 0 {
			w.end = off + n
		}
		off += n
	}
	w.err = tw.Finish()
	return w
}

// read is what archive/tar reads of in.
func read(in []byte) (walked, bool) {
	r := walked{kept: map[string]string{}}
	tr := tar.NewReader(bytes.NewReader(in))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return r, true
		}
		if err != nil {
			return r, false
		}
		r.names = append(r.names, h.Name)
		b, err := io.ReadAll(io.LimitReader(tr, 4<<20)) // a sparse entry may claim gigabytes of holes
		if err != nil {
			return r, false
		}
		if h.Typeflag == tar.TypeReg && strings.HasSuffix(h.Name, ".json") {
			r.kept[h.Name] = string(b)
		}
	}
}

// TestWalkerReadsAsArchiveTar: fed in pieces of any size, the walker sees
// the members archive/tar reads (PAX and GNU long names, links, empty
// files), keeps the selected content, and says the end exactly in the
// piece that completes the end-of-archive marker's first zero block.
func TestWalkerReadsAsArchiveTar(t *testing.T) {
	long := strings.Repeat("d/", 70) + "config.json"
	L := MustTar(t, MustLegacy(t).entries...)
	fixtures := map[string]built{
		"legacy image": L,
		"oci image":    MustTar(t, MustOCI(t).entries...),
		"volume":       MustTar(t, volumeEntries()...),
		"empty":        MustTar(t),
		"pax long name and links": MustTar(t, dir("d/"), file(long, `{"a":1}`), symlink("s.json", long), hardlink("h.json", long), file("e.json", ""),
			entry{name: "p.json", body: "{}", hdr: func(h *tar.Header) { h.PAXRecords = map[string]string{"comment": strings.Repeat("x", 2000)} }}),
		"gnu long name": MustTar(t, entry{name: long, body: `{"g":2}`, hdr: func(h *tar.Header) { h.Format = tar.FormatGNU }}),
	}
	for name, b := range fixtures {
		want, ok := read(b.data)
		if !ok {
			t.Fatalf("%s: archive/tar cannot read the fixture", name)
		}
		for seed := range uint64(12) {
			got := walk(b.data, seed)
			if got.err != nil {
				t.Fatalf("%s (seed %d): %v", name, seed, got.err)
			}
			if strings.Join(got.names, "|") != strings.Join(want.names, "|") || len(got.kept) != len(want.kept) {
				t.Fatalf("%s (seed %d): walked %q kept %d, archive/tar reads %q kept %d", name, seed, got.names, len(got.kept), want.names, len(want.kept))
			}
			for k, v := range want.kept {
				if got.kept[k] != v {
					t.Fatalf("%s (seed %d): %s kept as %q, is %q", name, seed, k, got.kept[k], v)
				}
			}
			// The end is said in the piece holding the marker's 512th byte.
			if got.end < b.marker+512 || got.end-b.marker-512 > 700 {
				t.Fatalf("%s (seed %d): end said after byte %d, the marker's first block ends at %d", name, seed, got.end, b.marker+512)
			}
		}
	}
	// Cut short: at a member boundary, inside content, inside the marker.
	for _, cut := range []int{L.ends[2], L.ends[3] - 600, L.marker + 100, 0} {
		if got := walk(L.data[:cut], 1); !errors.Is(got.err, tarcheck.ErrIncomplete) || got.end >= 0 {
			t.Fatalf("cut at %d: %v (end at %d)", cut, got.err, got.end)
		}
	}
	// A damaged header fails at its offset.
	bad := bytes.Clone(L.data)
	bad[L.ends[1]+10] ^= 0x55
	if got := walk(bad, 2); !errors.Is(got.err, tarcheck.ErrIncomplete) || !strings.Contains(got.err.Error(), "offset") {
		t.Fatalf("damaged header: %v", got.err)
	}
	// A kept member larger than Max fails; Member's error ends the walk.
	big := MustTar(t, file("big.json", strings.Repeat("x", 2<<20)))
	if got := walk(big.data, 3); !errors.Is(got.err, tarcheck.ErrIncomplete) {
		t.Fatalf("kept member over Max: %v", got.err)
	}
	stop := errors.New("stop")
	w := &tarcheck.Walker{Member: func(*tar.Header, []byte) error { return stop }}
	if _, err := w.Feed(L.data); !errors.Is(err, stop) {
		t.Fatalf("Member's error: %v", err)
	}
}

// FuzzWalker: never panics; whatever archive/tar reads to a clean end, the
// walker walks to the same members and sees the end.
func FuzzWalker(f *testing.F) {
	for _, s := range seedArchives(f) {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		got := walk(in, seed)
		want, ok := read(in)
		if !ok || got.err != nil {
			return // archive/tar is more lenient in places (it stops at one zero block); both refusing is fine
		}
		if strings.Join(got.names, "|") != strings.Join(want.names, "|") {
			t.Fatalf("walked %q, archive/tar reads %q", got.names, want.names)
		}
	})
}
