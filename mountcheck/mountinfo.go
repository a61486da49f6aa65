package mountcheck

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// mountinfoPath is the mount table Verify, Pin and Check read.
const mountinfoPath = "/proc/self/mountinfo"

// ParseMountinfo parses a mount table in the /proc/<pid>/mountinfo format. It
// wraps mountinfo.GetMountsFromReader, which unescapes the octal escapes the
// kernel writes in mount points, roots, sources and types (\040 for a space,
// \011 tab, \012 newline, \134 backslash).
func ParseMountinfo(r io.Reader) ([]*mountinfo.Info, error) {
	mounts, err := mountinfo.GetMountsFromReader(r, nil)
	if err != nil {
		return nil, fmt.Errorf("parse mount table: %w", err)
	}
	return mounts, nil
}

// readMounts reads and parses this process's mount table.
func readMounts() ([]*mountinfo.Info, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mountinfoPath, err)
	}
	return mounts, nil
}

// Lookup returns the mount holding the absolute path: the mount whose mount
// point is the longest prefix of path, compared component by component (so
// /mnt/a does not hold /mnt/ab). path is cleaned lexically (trailing slashes,
// ".", ".."); resolve symlinks before calling Lookup. When several mounts are
// stacked on the same mount point, the topmost (the one no other candidate
// was mounted on) wins; if that is ambiguous, the last in table order.
//
// Lookup is pure: it never touches the file system.
func Lookup(mounts []*mountinfo.Info, path string) (*mountinfo.Info, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("look up the mount of %q: the path is not absolute", path)
	}
	path = filepath.Clean(path)
	var best []*mountinfo.Info
	bestLen := -1
	for _, m := range mounts {
		if m == nil || !filepath.IsAbs(m.Mountpoint) {
			continue
		}
		mp := filepath.Clean(m.Mountpoint)
		if !hasPathPrefix(path, mp) {
			continue
		}
		switch {
		case len(mp) > bestLen:
			best, bestLen = append(best[:0], m), len(mp)
		case len(mp) == bestLen:
			best = append(best, m)
		}
	}
	if len(best) == 0 {
		return nil, fmt.Errorf("%w: no mount in the mount table holds %s (not even /): is /proc mounted in this mount namespace?",
			ErrNotMounted, path)
	}
	return topmost(best), nil
}

// topmost picks, among mounts on the same mount point, the one on top of the
// stack: the last one in table order that no other candidate is mounted on.
func topmost(stack []*mountinfo.Info) *mountinfo.Info {
	for i := len(stack) - 1; i >= 0; i-- {
		covered := false
		for j, other := range stack {
			if j != i && other.Parent == stack[i].ID && other.ID != stack[i].ID {
				covered = true
				break
			}
		}
		if !covered {
			return stack[i]
		}
	}
	return stack[len(stack)-1]
}

// lookupByDevice is Lookup restricted to mounts of the device major:minor.
// Verify uses it when the longest-prefix mount's device differs from the
// path's st_dev, which happens when that mount is hidden by a later mount on
// one of its parents.
func lookupByDevice(mounts []*mountinfo.Info, path string, major, minor int) *mountinfo.Info {
	var same []*mountinfo.Info
	for _, m := range mounts {
		if m != nil && m.Major == major && m.Minor == minor {
			same = append(same, m)
		}
	}
	m, err := Lookup(same, path)
	if err != nil {
		return nil
	}
	return m
}

// hasPathPrefix reports whether the clean absolute path equals prefix or lies
// below it.
func hasPathPrefix(path, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// hasOption reports whether the comma-separated option list contains opt.
func hasOption(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// mountReadOnly reports whether the per-mount or superblock options say "ro".
func mountReadOnly(m *mountinfo.Info) bool {
	return hasOption(m.Options, "ro") || hasOption(m.VFSOptions, "ro")
}

// describeMount is a short human description:
// "mount /mnt/replica (cifs from //nas/backup)".
func describeMount(m *mountinfo.Info) string {
	return fmt.Sprintf("mount %s (%s from %s)", m.Mountpoint, m.FSType, m.Source)
}
