package tarcheck_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

// volumeEntries is a volume as CopyFromContainer emits it for ".../data".
func volumeEntries() []entry {
	return []entry{
		dir("data/"),
		file("data/a.txt", "hello\n"),
		dir("data/sub/"),
		file("data/sub/b.bin", strings.Repeat("b", 1500)),
		symlink("data/sub/link", "../a.txt"),
		hardlink("data/hard", "data/a.txt"),
		dir("data/empty/"),
		{name: "data/fifo", typ: tar.TypeFifo},
	}
}

func TestValidateTar(t *testing.T) {
	v := MustTar(t, volumeEntries()...)
	want := tarcheck.TarSummary{Bytes: int64(len(v.data)), Entries: 8, Files: 2, Dirs: 3, Symlinks: 1, HardLinks: 1, Others: 1, ContentBytes: 6 + 1500}
	tests := []struct {
		name    string
		in      []byte
		want    *tarcheck.TarSummary
		wantErr []string
	}{
		{name: "valid", in: v.data, want: &want},
		{name: "empty archive (marker only)", in: MustTar(t).data, want: &tarcheck.TarSummary{Bytes: 1024}},
		{name: "zero padding to a 10 KiB record", in: cat(v.data, make([]byte, 10240-len(v.data)%10240)),
			want: &tarcheck.TarSummary{Bytes: int64(len(v.data) + 10240 - len(v.data)%10240), Entries: 8, Files: 2, Dirs: 3, Symlinks: 1, HardLinks: 1, Others: 1, ContentBytes: 1506}},
		{name: "truncated at a header boundary", in: v.data[:v.ends[3]],
			wantErr: []string{"tar stream ends without the tar end-of-archive marker", `last complete entry "data/sub/b.bin" ends at offset ` + strconv.Itoa(v.ends[3])}},
		{name: "no marker at all, stream ends after the last entry", in: v.data[:v.marker],
			wantErr: []string{"ends without the tar end-of-archive marker"}},
		{name: "truncated mid-entry", in: v.data[:v.ends[3]-100],
			wantErr: []string{`tar stream ends inside entry "data/sub/b.bin"`, "(1436 of its 1500 bytes present)"}},
		{name: "JSON error appended", in: cat(v.data[:v.ends[2]], engineJSON("container stopped")),
			wantErr: []string{"engine error appended to the archive: container stopped"}},
		{name: "junk after marker", in: cat(v.data, []byte{0, 0, 7}),
			wantErr: []string{"tar stream has non-zero data at offset " + strconv.Itoa(len(v.data)+2)}},
		{name: "garbage", in: bytes.Repeat([]byte{0xff}, 4096),
			wantErr: []string{"tar stream: not a tar archive"}},
		{name: "zero block then garbage", in: cat(make([]byte, 512), bytes.Repeat([]byte{1}, 512)),
			wantErr: []string{"tar stream: not a tar archive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := tarcheck.ValidateTar(context.Background(), bytes.NewReader(tc.in))
			if tc.want != nil {
				if err != nil {
					t.Fatalf("ValidateTar: %v", err)
				}
				if sum != *tc.want {
					t.Errorf("summary = %+v\nwant      %+v", sum, *tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateTar succeeded (%+v), want error %q", sum, tc.wantErr)
			}
			if !errors.Is(err, tarcheck.ErrIncomplete) {
				t.Errorf("error does not wrap ErrIncomplete: %v", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

// readAllEntries reads a tar into headers and contents.
func readAllEntries(t *testing.T, b []byte) ([]*tar.Header, map[string]string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var hs []*tar.Header
	data := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs, data
		}
		if err != nil {
			t.Fatalf("reading the output: %v", err)
		}
		c, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		data[h.Name] = string(c)
	}
}

func TestRebaseTar(t *testing.T) {
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC) // sub-second: needs PAX
	long := "data/" + strings.Repeat("deep-directory-name/", 8) + "file-with-a-long-name.txt"
	in := MustTar(t,
		entry{name: "data/", typ: tar.TypeDir, hdr: func(h *tar.Header) { h.Mode, h.Uid, h.Gid = 0o750, 999, 999 }},
		entry{name: "data/a.txt", body: "hello\n", hdr: func(h *tar.Header) {
			h.Mode, h.Uid, h.Gid, h.Uname, h.Gname = 0o4640, 1000, 1001, "app", "staff"
			h.ModTime, h.Format = mtime, tar.FormatPAX
			h.PAXRecords = map[string]string{"SCHILY.xattr.user.comment": "kept", "SCHILY.xattr.security.capability": "\x01\x00"}
		}},
		dir("data/sub/"),
		symlink("data/sub/link", "../a.txt"),
		symlink("data/abs", "/etc/hostname"),
		hardlink("data/hard", "data/a.txt"),
		dir("data/empty/"),
		entry{name: "data/null", typ: tar.TypeChar, hdr: func(h *tar.Header) { h.Devmajor, h.Devminor, h.Mode = 1, 3, 0o666 }},
		entry{name: long, body: "long\n"},
		hardlink("data/hard-long", long),
	)
	var out bytes.Buffer
	sum, err := tarcheck.RebaseTar(context.Background(), bytes.NewReader(in.data), &out)
	if err != nil {
		t.Fatalf("RebaseTar: %v", err)
	}
	if want := (tarcheck.TarSummary{Bytes: int64(len(in.data)), Entries: 10, Files: 2, Dirs: 3, Symlinks: 2, HardLinks: 2, Others: 1, ContentBytes: 11}); sum != want {
		t.Errorf("summary = %+v\nwant      %+v", sum, want)
	}
	osum, err := tarcheck.ValidateTar(context.Background(), bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("the output does not validate: %v", err)
	}
	if osum.Entries != sum.Entries || osum.ContentBytes != sum.ContentBytes {
		t.Errorf("output summary %+v differs from the input's %+v", osum, sum)
	}
	hs, data := readAllEntries(t, out.Bytes())
	var names []string
	byName := map[string]*tar.Header{}
	for _, h := range hs {
		names = append(names, h.Name)
		byName[h.Name] = h
	}
	rel := strings.TrimPrefix(long, "data/")
	wantNames := []string{"./", "a.txt", "sub/", "sub/link", "abs", "hard", "empty/", "null", rel, "hard-long"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("names = %q\nwant    %q", names, wantNames)
	}
	if h := byName["./"]; h.Mode != 0o750 || h.Uid != 999 || h.Typeflag != tar.TypeDir {
		t.Errorf("root: %+v", h)
	}
	a := byName["a.txt"]
	if a.Mode != 0o4640 || a.Uid != 1000 || a.Gid != 1001 || a.Uname != "app" || a.Gname != "staff" {
		t.Errorf("a.txt owner/mode: mode %o uid %d gid %d %s:%s", a.Mode, a.Uid, a.Gid, a.Uname, a.Gname)
	}
	if !a.ModTime.Equal(mtime) {
		t.Errorf("a.txt mtime = %v, want %v (sub-second kept)", a.ModTime, mtime)
	}
	if a.PAXRecords["SCHILY.xattr.user.comment"] != "kept" || a.PAXRecords["SCHILY.xattr.security.capability"] != "\x01\x00" {
		t.Errorf("a.txt xattrs = %q", a.PAXRecords)
	}
	if data["a.txt"] != "hello\n" || data[rel] != "long\n" {
		t.Errorf("contents: %q", data)
	}
	if h := byName["sub/link"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "../a.txt" {
		t.Errorf("sub/link: %+v", h)
	}
	if h := byName["abs"]; h.Linkname != "/etc/hostname" {
		t.Errorf("abs symlink target = %q (symlink targets are kept verbatim)", h.Linkname)
	}
	if h := byName["hard"]; h.Typeflag != tar.TypeLink || h.Linkname != "a.txt" {
		t.Errorf("hard: %+v", h)
	}
	if h := byName["hard-long"]; h.Linkname != rel {
		t.Errorf("hard-long target = %q, want %q", h.Linkname, rel)
	}
	if h := byName["null"]; h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 || h.Mode != 0o666 {
		t.Errorf("null: %+v", h)
	}
	if h := byName["empty/"]; h.Typeflag != tar.TypeDir {
		t.Errorf("empty/: %+v", h)
	}
}

func TestRebaseTarRootNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    []string
	}{
		{"root without slash", []entry{{name: "vol", typ: tar.TypeDir}, file("vol/x", "1")}, []string{"./", "x"}},
		{"dot root", []entry{dir("./"), file("./x", "1"), dir("./d/")}, []string{"./", "x", "d/"}},
		{"nested root", []entry{dir("a/b/"), file("a/b/x", "1")}, []string{"./", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := tarcheck.RebaseTar(context.Background(), bytes.NewReader(MustTar(t, tc.entries...).data), &out); err != nil {
				t.Fatal(err)
			}
			hs, _ := readAllEntries(t, out.Bytes())
			var names []string
			for _, h := range hs {
				names = append(names, h.Name)
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("names = %q, want %q", names, tc.want)
			}
		})
	}
}

func TestRebaseTarRejects(t *testing.T) {
	vol := MustTar(t, volumeEntries()...)
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"entry outside the root", MustTar(t, dir("data/"), file("data/x", "1"), file("other/y", "2")).data, `tar stream entry "other/y" lies outside the exported directory "data/"`},
		{"sibling with the root as prefix", MustTar(t, dir("data/"), file("database/y", "2")).data, `entry "database/y" lies outside`},
		{"absolute name", MustTar(t, dir("data/"), file("/data/x", "1")).data, `tar stream entry "/data/x" is an absolute path`},
		{"dot-dot component", MustTar(t, dir("data/"), file("data/../etc/passwd", "1")).data, `has a ".." component`},
		{"hard link outside", MustTar(t, dir("data/"), hardlink("data/h", "etc/shadow")).data, `is a hard link to "etc/shadow", outside the exported directory`},
		{"hard link with dot-dot", MustTar(t, dir("data/"), hardlink("data/h", "data/../x")).data, `hard-link target of data/h "data/../x" has a ".." component`},
		{"first entry not a directory", MustTar(t, file("data", "x")).data, `first entry "data" is not a directory`},
		{"no entries", MustTar(t).data, "tar stream has no entries"},
		{"truncated input", vol.data[:vol.ends[3]-100], `tar stream ends inside entry "data/sub/b.bin"`},
		{"truncated at a header boundary", vol.data[:vol.ends[4]], "ends without the tar end-of-archive marker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := tarcheck.RebaseTar(context.Background(), bytes.NewReader(tc.in), &out)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if !errors.Is(err, tarcheck.ErrIncomplete) {
				t.Errorf("error does not wrap ErrIncomplete: %v", err)
			}
			// The partial output never carries an end-of-archive marker.
			if _, verr := tarcheck.ValidateTar(context.Background(), bytes.NewReader(out.Bytes())); verr == nil && out.Len() > 0 {
				t.Errorf("partial output (%d bytes) validates as a complete tar", out.Len())
			}
		})
	}
}

// errWriter fails after n bytes.
type errWriter struct {
	n   int
	err error
}

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

func TestRebaseTarWriteError(t *testing.T) {
	enospc := errors.New("no space left on device")
	_, err := tarcheck.RebaseTar(context.Background(), bytes.NewReader(MustTar(t, volumeEntries()...).data), &errWriter{n: 1000, err: enospc})
	if !errors.Is(err, enospc) || errors.Is(err, tarcheck.ErrIncomplete) {
		t.Fatalf("err = %v, want the write error, not ErrIncomplete", err)
	}
	if !strings.Contains(err.Error(), "writing the rebased tar") {
		t.Errorf("err = %v", err)
	}
}

func TestValidateTarCanceledMidStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	v := MustTar(t, volumeEntries()...)
	r := &cancelAfter{r: bytes.NewReader(v.data), n: 2048, cancel: cancel}
	_, err := tarcheck.ValidateTar(ctx, r)
	if !errors.Is(err, context.Canceled) || errors.Is(err, tarcheck.ErrIncomplete) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
}

// cancelAfter cancels its context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}
