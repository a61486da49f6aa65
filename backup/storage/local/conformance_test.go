package local_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/storage/storagetest"
)

// The local backend passes the conformance suite every backend runs.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return open(t, t.TempDir(), "conformance")
	}, storagetest.Options{
		Pending: func(_ context.Context, b storage.Backend) (int, error) {
			n := 0
			err := filepath.WalkDir(b.Location(), func(_ string, d fs.DirEntry, err error) error {
				if err == nil && strings.HasPrefix(d.Name(), local.TempPrefix) {
					n++
				}
				return nil
			})
			return n, err
		},
		Reopen: func(t *testing.T, b storage.Backend, owner string) storage.Backend {
			return open(t, b.Location(), owner)
		},
		Missing: func(t *testing.T) (storage.Backend, error) {
			return local.Open(context.Background(), local.Options{Dir: filepath.Join(t.TempDir(), "absent"), Owner: "x"})
		},
	})
}
