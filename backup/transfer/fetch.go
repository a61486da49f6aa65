package transfer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
)

// Fetch copies the complete pack name from src into the local directory
// dir (created 0700 when missing) — a classic pack's files, or a store
// pack's chunk lists and the bundles of its store that it uses, with the
// store's config and an index of them — each verified on arrival, and
// returns the pack's directory (dir/<name>). The local pack reads as any
// other: verify, restore and drills run on it. It is how those commands
// read a pack in object storage; the caller removes dir when done.
func Fetch(ctx context.Context, src storage.Backend, name, dir string, o Options) (string, Result, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", Result{}, fmt.Errorf("fetch %s: %w", name, err)
	}
	dst, err := local.Open(ctx, local.Options{Dir: dir, Owner: "fetch"})
	if err != nil {
		return "", Result{}, fmt.Errorf("fetch %s: %w", name, err)
	}
	defer dst.Close()
	o.Pack = name
	res, err := Copy(ctx, src, dst, o)
	if err != nil {
		return "", res, fmt.Errorf("fetch %s from %s: %w", name, src.Location(), err)
	}
	return filepath.Join(dir, name), res, nil
}
