package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// upload is an object being written to its temporary name.
type upload struct {
	b       *Backend
	ctx     context.Context
	key     string
	tmp     string
	f       *os.File
	w       *fsutil.WritebackWriter
	excl    bool
	n       int64
	since   int64
	done    bool
	written error // the first write error
}

// Create starts writing key: the pin is checked, its directories created
// (on the pinned device), and a temporary file named after the owner opened.
func (b *Backend) Create(ctx context.Context, key string, o storage.CreateOptions) (storage.Upload, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	if b.owner == "" {
		return nil, errors.New("local storage: opened without an owner token, cannot write")
	}
	if err := b.Check(ctx); err != nil {
		return nil, err
	}
	mode := o.Mode
	if mode == 0 {
		mode = 0o600
	}
	dir := path.Dir(key)
	if err := b.mkdirAll(dir, dirModeOf(mode)); err != nil {
		return nil, fmt.Errorf("create %s: %w", key, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, TempPrefix+b.owner+"."+hex.EncodeToString(rnd[:]))
	f, err := b.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = b.pin.SameDevice(key, fi)
	}
	if err != nil {
		f.Close()
		_ = b.root.Remove(tmp)
		return nil, err
	}
	return &upload{b: b, ctx: ctx, key: key, tmp: tmp, f: f, w: &fsutil.WritebackWriter{F: f}, excl: o.Exclusive}, nil
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errors.New("local storage: write after commit or abort")
	}
	if u.written != nil {
		return 0, u.written
	}
	if u.since >= u.b.every {
		u.since = 0
		if err := u.b.Check(u.ctx); err != nil {
			u.written = err
			return 0, err
		}
	}
	n, err := u.w.Write(p)
	u.n += int64(n)
	u.since += int64(n)
	if err != nil {
		u.written = err
	}
	return n, err
}

// Commit fsyncs the file, re-checks the pin, gives it its key and fsyncs the directory.
func (u *upload) Commit(ctx context.Context) (storage.Info, error) {
	if u.done {
		return storage.Info{}, errors.New("local storage: commit after commit or abort")
	}
	if u.written != nil {
		return storage.Info{}, u.written
	}
	if err := u.f.Sync(); err != nil {
		return storage.Info{}, fmt.Errorf("fsync %s: %w", u.key, err)
	}
	fi, err := u.f.Stat()
	if err != nil {
		return storage.Info{}, err
	}
	if err := u.f.Close(); err != nil {
		return storage.Info{}, err
	}
	u.f = nil
	if err := ctx.Err(); err != nil {
		return storage.Info{}, context.Cause(ctx)
	}
	if err := u.b.Check(ctx); err != nil {
		return storage.Info{}, err
	}
	if u.excl {
		err = u.b.renameNoReplace(u.tmp, u.key)
	} else {
		err = u.b.root.Rename(u.tmp, u.key)
	}
	if err != nil {
		return storage.Info{}, fmt.Errorf("commit %s: %w", u.key, err)
	}
	u.done = true
	if err := u.b.syncDir(path.Dir(u.key)); err != nil {
		return storage.Info{}, err
	}
	return storage.Info{Key: u.key, Size: u.n, ModTime: fi.ModTime()}, nil
}

// Abort removes the temporary file.
func (u *upload) Abort(context.Context) error {
	if u.done {
		return nil
	}
	u.done = true
	if u.f != nil {
		u.f.Close()
	}
	if err := u.b.root.Remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// renameNoReplace renames from to to, failing with storage.ErrExists when
// to exists: renameat2(RENAME_NOREPLACE) on the directories opened through
// the pinned handle, or, where the filesystem lacks it, a hard link and the
// removal of from (files only).
func (b *Backend) renameNoReplace(from, to string) error {
	fd, err := b.root.Open(path.Dir(from))
	if err != nil {
		return err
	}
	defer fd.Close()
	td, err := b.root.Open(path.Dir(to))
	if err != nil {
		return err
	}
	defer td.Close()
	err = unix.Renameat2(int(fd.Fd()), path.Base(from), int(td.Fd()), path.Base(to), unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%s: %w", to, storage.ErrExists)
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP):
		return err
	}
	if err := b.root.Link(from, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", to, storage.ErrExists)
		}
		return err
	}
	return b.root.Remove(from)
}
