package mountcheck_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/mountcheck"
)

// components splits a clean absolute path into its components; an
// independent oracle for the prefix test inside Lookup.
func components(p string) []string {
	var out []string
	for _, c := range strings.Split(filepath.Clean(p), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

func isComponentPrefix(path, prefix string) bool {
	pc, xc := components(path), components(prefix)
	return len(xc) <= len(pc) && slices.Equal(pc[:len(xc)], xc)
}

func FuzzLookup(f *testing.F) {
	seedPaths := []string{"/", "/mnt/replica/packs", "/mnt/backup share/x", "/mnt/ab", "/srv/backup/archive/..",
		"/tmp/dockpack-test-1/inner/", "relative/path", "", "//mnt//a/./b"}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.mountinfo"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range seedPaths {
			f.Add(string(data), p)
		}
	}
	f.Add("1 1 0:1 / /a\\040b rw - tmpfs t rw\n2 1 0:2 / /a rw - tmpfs u rw\n", "/a b/c")

	f.Fuzz(func(t *testing.T, table, path string) {
		mounts, err := mountcheck.ParseMountinfo(strings.NewReader(table))
		if err != nil {
			return
		}
		m, err := mountcheck.Lookup(mounts, path)
		if !filepath.IsAbs(path) {
			if err == nil {
				t.Fatalf("Lookup(%q) accepted a relative path", path)
			}
			return
		}
		// The oracle: the longest component-wise prefix among the mounts.
		best := -1
		for _, mi := range mounts {
			if filepath.IsAbs(mi.Mountpoint) && isComponentPrefix(path, mi.Mountpoint) {
				best = max(best, len(components(mi.Mountpoint)))
			}
		}
		if best < 0 {
			if err == nil {
				t.Fatalf("Lookup(%q) = %q, but no mount point is a prefix", path, m.Mountpoint)
			}
			return
		}
		if err != nil {
			t.Fatalf("Lookup(%q): %v, but a mount point is a prefix", path, err)
		}
		if !slices.Contains(mounts, m) {
			t.Fatal("Lookup returned a mount that is not in the table")
		}
		if !isComponentPrefix(path, m.Mountpoint) || len(components(m.Mountpoint)) != best {
			t.Fatalf("Lookup(%q) = %q, want the longest prefix (%d components)", path, m.Mountpoint, best)
		}
		rev := slices.Clone(mounts)
		slices.Reverse(rev)
		m2, err := mountcheck.Lookup(rev, path)
		if err != nil || filepath.Clean(m2.Mountpoint) != filepath.Clean(m.Mountpoint) {
			t.Fatalf("reversed table: Lookup(%q) = %v, %v; want mount point %q", path, m2, err, m.Mountpoint)
		}
	})
}

// escape escapes a mountinfo field the way the kernel does (mangle() with
// " \t\n\\").
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			b.WriteString("\\" + string('0'+c>>6) + string('0'+(c>>3)&7) + string('0'+c&7))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add("/mnt/backup share", "//nas/backup share", "cifs")
	f.Add("/mnt/trailing ", "src", "smb3")
	f.Add("/a\\b\tc\nd", "nas.example.lan:/export/x y", "nfs4")
	f.Add("/-", "-", "fuse.sshfs")
	f.Add("/mnt/\\040literal", "\\134", "tmpfs")
	f.Fuzz(func(t *testing.T, mountpoint, source, fstype string) {
		if mountpoint == "" || source == "" || fstype == "" {
			return // the kernel never writes an empty field
		}
		line := "36 35 98:0 / " + escape(mountpoint) + " rw,noatime master:1 shared:2 - " +
			escape(fstype) + " " + escape(source) + " rw,errors=continue\n"
		mounts, err := mountcheck.ParseMountinfo(strings.NewReader(line + line))
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		if len(mounts) != 2 {
			t.Fatalf("parsed %d mounts from 2 lines", len(mounts))
		}
		m := mounts[1]
		if m.Mountpoint != mountpoint || m.Source != source || m.FSType != fstype {
			t.Fatalf("round trip of %q: mountpoint %q source %q fstype %q", line, m.Mountpoint, m.Source, m.FSType)
		}
		if m.ID != 36 || m.Parent != 35 || m.Major != 98 || m.Minor != 0 || m.Optional != "master:1 shared:2" || m.VFSOptions != "rw,errors=continue" {
			t.Fatalf("fixed fields misparsed: %+v", m)
		}
	})
}
