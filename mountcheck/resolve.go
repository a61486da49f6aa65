package mountcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxSymlinks matches the kernel's limit on symlinks followed in one lookup.
const maxSymlinks = 40

// resolvePath makes path absolute and resolves it the way the kernel would:
// component by component, following symlinks (also in the middle of the
// path, relative and absolute) and applying ".." to the resolved prefix, not
// lexically. It stops at the first component that does not exist and returns
// the full path (existing part + the rest, cleaned lexically) and the nearest
// existing ancestor, which is symlink-free.
func resolvePath(path string) (full, existing string, err error) {
	if path == "" {
		return "", "", errors.New("the path is empty")
	}
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", "", fmt.Errorf("make %q absolute: %w", path, err)
		}
		path = wd + "/" + path
	}
	return resolveAbs(path, true)
}

func resolveAbs(path string, again bool) (full, existing string, err error) {
	resolved := "/"
	rest := path
	links := 0
	for {
		var comp string
		comp, rest = nextComponent(rest)
		switch comp {
		case "":
			return resolved, resolved, nil
		case ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		cand := filepath.Join(resolved, comp)
		fi, err := os.Lstat(cand)
		if errors.Is(err, fs.ErrNotExist) {
			full = filepath.Join(cand, rest)
			if again && hasDotDot(rest) {
				// ".." below a missing directory: judge the path it will be
				// once the missing directories exist (what os.MkdirAll does).
				return resolveAbs(full, false)
			}
			return full, resolved, nil
		}
		if err != nil {
			return "", "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			links++
			if links > maxSymlinks {
				return "", "", &fs.PathError{Op: "resolve", Path: path, Err: syscall.ELOOP}
			}
			target, err := os.Readlink(cand)
			if err != nil {
				return "", "", err
			}
			if filepath.IsAbs(target) {
				resolved = "/"
			}
			rest = target + "/" + rest
			continue
		}
		if !fi.IsDir() && hasComponents(rest) {
			return "", "", &fs.PathError{Op: "resolve", Path: cand, Err: syscall.ENOTDIR}
		}
		resolved = cand
	}
}

// nextComponent splits the first path component off p, skipping slashes.
func nextComponent(p string) (comp, rest string) {
	p = strings.TrimLeft(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

func hasComponents(p string) bool { return strings.Trim(p, "/") != "" }

func hasDotDot(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}
