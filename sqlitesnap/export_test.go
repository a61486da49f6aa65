package sqlitesnap

import (
	"context"
	"time"
)

// SetFreeSpace replaces the free-space probe until the returned restore
// function is called.
func SetFreeSpace(f func(dir string) (uint64, error)) (restore func()) {
	old := freeSpace
	freeSpace = f
	return func() { freeSpace = old }
}

// ProbeExclusive exposes the lock half of the in-use check.
func ProbeExclusive(ctx context.Context, path string, timeout time.Duration) (busy, err error) {
	return probeExclusive(ctx, path, timeout)
}

// Openers exposes the /proc half of the in-use check.
func Openers(paths ...string) []Holder { return openers(paths) }
