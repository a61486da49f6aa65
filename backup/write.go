package backup

import (
	"context"
	"io"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
)

// writeFile streams a pack file through the pinned pack directory: the
// produce func writes it through a chain that re-checks the mount pin,
// counts progress and hashes. The file is fsynced before it is recorded.
// In a store backup the file goes into the store as chunks instead, and
// its chunk list into the pack (writeStoreFile).
func (r *runner) writeFile(ctx context.Context, step progress.Step, item, rel string, kind pack.FileKind, produce func(w io.Writer) error) (pack.FileEntry, error) {
	wrap := func(w io.Writer) io.Writer {
		if h := r.spec.Hooks.WrapWriter; h != nil {
			w = h(step, item, w)
		}
		return r.trk.Writer(w)
	}
	var fe pack.FileEntry
	if r.store != nil && kind != pack.FileManifest { // a store pack's data goes into the store as chunks
		var err error
		if fe, err = r.writeStoreFile(ctx, wrap, rel, kind, produce); err != nil {
			return pack.FileEntry{}, err
		}
	} else {
		n, sum, err := r.dir.WriteFile(ctx, rel, wrap, produce)
		if err != nil {
			return pack.FileEntry{}, err
		}
		fe = pack.FileEntry{Path: rel, Kind: kind, Size: n, SHA256: sum}
	}
	if kind != pack.FileManifest { // manifest.json and SHA256SUMS are not listed in the manifest
		r.files = append(r.files, fe)
	}
	return fe, nil
}
