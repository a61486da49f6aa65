package fsutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// WritebackWriter writes to a file and asks the kernel to start writing each
// completed window of it back to disk while the stream goes on
// (sync_file_range SYNC_FILE_RANGE_WRITE, which does not wait). A multi-GB
// stream then neither piles up gigabytes of dirty pages nor leaves all of
// them for the final fsync, which the caller still has to do: this is an
// optimisation, not a durability guarantee. Filesystems that do not support
// it (some network filesystems) just ignore it.
type WritebackWriter struct {
	F      *os.File
	Window int64 // bytes per writeback request; default 8 MiB

	off, synced int64
	unsupported bool
}

func (w *WritebackWriter) Write(p []byte) (int, error) {
	n, err := w.F.Write(p)
	w.off += int64(n)
	win := w.Window
	if win <= 0 {
		win = 8 << 20
	}
	if w.off-w.synced >= win && !w.unsupported {
		if e := unix.SyncFileRange(int(w.F.Fd()), w.synced, w.off-w.synced, unix.SYNC_FILE_RANGE_WRITE); e != nil {
			w.unsupported = true // not supported here: stop asking
		}
		w.synced = w.off
	}
	return n, err
}
