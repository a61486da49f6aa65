package consistency

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// Measured is what MeasureBind found at a bind mount's source.
type Measured struct {
	Type    string // pack.BindFile or pack.BindDir; "" for anything else
	Size    int64  // bytes of regular-file content (counting stops past the limit)
	Special bool   // a socket, device or pipe: not data
	Over    bool   // more than the limit
	Err     error  // not readable from here
}

// MeasureBind stats a bind mount's source and, unless limit < 0 (stat
// only), walks it: every entry must be readable (files are opened), and
// the content is counted until it passes limit.
func MeasureBind(path string, limit int64) Measured {
	fi, err := os.Stat(path)
	if err != nil {
		return Measured{Err: err}
	}
	switch {
	case fi.Mode().IsRegular():
		m := Measured{Type: pack.BindFile, Size: fi.Size()}
		if limit >= 0 {
			m.Over = fi.Size() > limit
			if f, err := os.Open(path); err != nil {
				m.Err = err
			} else {
				f.Close()
			}
		}
		return m
	case fi.IsDir():
	default:
		return Measured{Special: true}
	}
	m := Measured{Type: pack.BindDir}
	if limit < 0 {
		return m
	}
	m.Err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			f.Close()
			m.Size += fi.Size()
			if m.Size > limit {
				m.Over = true
				return fs.SkipAll
			}
		}
		return nil
	})
	return m
}

// binds decides each bind mount of the stack's containers (once per
// service and destination): captured when it is a bind of the compose
// model, readable and within the limit.
func (b *builder) binds() {
	used, seen := map[string]bool{}, map[string]bool{}
	for _, ct := range b.in.Stack.Containers {
		for _, mt := range ct.Mounts {
			key := ct.Service + "\x00" + mt.Destination
			if mt.Type != "bind" || seen[key] {
				continue
			}
			seen[key] = true
			bp := BindPlan{Service: ct.Service, Container: ct.Name, Source: mt.Source, Destination: mt.Destination, ReadOnly: !mt.RW, Size: -1}
			b.decideBind(&bp)
			if bp.Captured() {
				bp.File = bindFileName(ct.Service, mt.Destination, used)
			}
			b.p.Binds = append(b.p.Binds, bp)
		}
	}
}

func (b *builder) decideBind(bp *BindPlan) {
	if b.in.SQLitePath != "" && PathUnder(b.in.SQLitePath, bp.Source) {
		bp.Code = BindDatabase
		return
	}
	if m := b.in.Measure(bp.Source, -1); m.Special {
		bp.Code = BindSpecial
		return
	}
	switch {
	case !b.in.VolumesSelected:
		bp.Code = BindNotSelected
		return
	case !b.inModel(bp.Service, bp.Destination):
		bp.Code = BindNotInModel
		return
	}
	m := b.in.Measure(bp.Source, b.in.BindLimit)
	bp.Type, bp.Size = m.Type, m.Size
	switch {
	case m.Err != nil:
		bp.Code, bp.Detail = BindUnreadable, m.Err.Error()
	case m.Special || m.Type == "":
		bp.Code = BindSpecial
	case m.Over:
		bp.Code, bp.Detail = BindTooLarge, fmt.Sprintf("more than %d bytes", b.in.BindLimit)
	default:
		bp.Code = BindCaptured
	}
}

// inModel reports whether the model declares a bind of service at dest.
func (b *builder) inModel(service, dest string) bool {
	if b.in.Model == nil {
		return false
	}
	for _, mb := range b.in.Model.Services[service].Binds {
		if filepath.Clean(mb.Target) == filepath.Clean(dest) {
			return true
		}
	}
	return false
}

// PathUnder reports whether p is dir or inside it.
func PathUnder(p, dir string) bool {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// WriteBindTar writes the tar of a bind mount's source to w: a directory's
// content relative to its root ("./", "conf/", "conf/app.ini"), or the one
// file under its base name; modes, owners, times, symlinks and hard links
// kept. It returns the bytes of file content written. A file that changes
// size while it is read is an error.
func WriteBindTar(ctx context.Context, src, typ string, w io.Writer) (int64, error) {
	bt := &bindTar{ctx: ctx, tw: tar.NewWriter(w)}
	add := bt.add
	var err error
	switch typ {
	case pack.BindFile:
		var fi fs.FileInfo
		if fi, err = os.Stat(src); err == nil {
			err = add(src, filepath.Base(src), fi, nil)
		}
	case pack.BindDir:
		links := map[uint64]string{}
		err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			name := filepath.ToSlash(rel)
			if name == "." {
				name = "./"
			} else if d.IsDir() {
				name += "/"
			}
			return add(p, name, fi, links)
		})
	default:
		err = fmt.Errorf("bind %s: unknown type %q", src, typ)
	}
	if err != nil {
		return bt.content, err
	}
	return bt.content, bt.tw.Close()
}

// bindTar writes a bind mount's files into a tar stream, counting their content.
type bindTar struct {
	ctx     context.Context
	tw      *tar.Writer
	content int64
}

// add writes the file p as name (a hard link to the first name of its inode
// when links is given); sockets are left out.
func (bt *bindTar) add(p, name string, fi fs.FileInfo, links map[uint64]string) error {
	if err := bt.ctx.Err(); err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		l, err := os.Readlink(p)
		if err != nil {
			return err
		}
		link = l
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // not data
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	h.Name, h.Format = name, tar.FormatPAX
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 && links != nil {
		if first, ok := links[st.Ino]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
		} else {
			links[st.Ino] = name
		}
	}
	if err := bt.tw.WriteHeader(h); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyN(bt.tw, fsutil.ContextReader(bt.ctx, f), h.Size)
	bt.content += n
	if err != nil {
		return fmt.Errorf("%s changed while it was read (%d of %d bytes): %w", p, n, h.Size, err)
	}
	return nil
}

// ErrBindExists: a bind's destination exists and holds data (restore without force).
var ErrBindExists = errors.New("the bind mount's destination exists")
