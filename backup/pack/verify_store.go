package pack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/store"
)

// Codes of a store pack's checks.
const (
	CodeBlobDamaged = "blob_damaged" // a chunk is missing or does not read back as written
	CodeChunkList   = "chunk_list"   // the chunk list is missing or disagrees with the manifest
	CodeNoStore     = "store_missing"
)

// openStoreFile opens a store pack's file for the full check.
func openStoreFile(ctx context.Context, d *Dir, m *Manifest, f FileEntry, c *check.Check) (io.ReadCloser, bool) {
	rc, err := d.OpenFile(ctx, m, f)
	if err != nil {
		storeFail(ctx, d, c, err)
		return nil, false
	}
	return rc, true
}

// storeFail sets c from an error opening a store pack's file.
func storeFail(ctx context.Context, d *Dir, c *check.Check, err error) {
	switch {
	case damagedBlob(ctx, d, c, err):
	case errors.Is(err, ErrChunkList):
		fail(c, CodeChunkList, err.Error())
	case errors.Is(err, store.ErrNoStore), errors.Is(err, store.ErrNewerFormat):
		fail(c, CodeNoStore, err.Error())
	default:
		fail(c, CodeReadError, err.Error())
	}
}

// damagedBlob reports whether err is a damaged or missing blob, and then
// fails c naming its bundle and every pack of the target that uses it.
func damagedBlob(ctx context.Context, d *Dir, c *check.Check, err error) bool {
	var be *store.BlobError
	if !errors.As(err, &be) {
		return false
	}
	failBlobs(ctx, d, c, []*store.BlobError{be})
	return true
}

func failBlobs(ctx context.Context, d *Dir, c *check.Check, errs []*store.BlobError) {
	ids := map[store.ID]bool{}
	for _, e := range errs {
		ids[e.Blob] = true
	}
	deps := Dependents(context.WithoutCancel(ctx), filepath.Dir(d.Path()), ids)
	detail := blobProblem(errs)
	if len(deps) > 0 {
		detail += "; packs that use this data: " + strings.Join(deps, ", ")
	}
	differ(c, CodeBlobDamaged, "every chunk readable as written", fmt.Sprintf("%d chunk(s) damaged or missing", len(errs)), detail)
}

// storeStructuralCheck checks a store pack's file without reading its
// data: its chunk list, every chunk in the store's index, and every bundle
// holding them present with its recorded size.
func storeStructuralCheck(ctx context.Context, d *Dir, m *Manifest, f FileEntry) (check.Check, error) {
	c := fileCheck(f, m)
	l, err := d.ReadChunkList(ctx, f)
	if err != nil {
		if ctx.Err() != nil {
			return c, context.Cause(ctx)
		}
		storeFail(ctx, d, &c, err)
		return c, nil
	}
	st, err := d.Store(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return c, context.Cause(ctx)
		}
		storeFail(ctx, d, &c, err)
		return c, nil
	}
	present, err := d.bundles(ctx, st)
	if err != nil {
		return c, err
	}
	if bad := st.MissingChunks(l.Chunks, present); len(bad) > 0 {
		failBlobs(ctx, d, &c, bad)
		return c, nil
	}
	pass(&c, fmt.Sprintf("%d chunks in the store, sizes agree", len(l.Chunks)))
	return c, nil
}

// bundles lists the store's bundles once per Dir.
func (d *Dir) bundles(ctx context.Context, st *store.Store) (map[string]int64, error) {
	if d.store.present == nil {
		p, err := st.Bundles(ctx)
		if err != nil {
			return nil, err
		}
		d.store.present = p
	}
	return d.store.present, nil
}

// sampleCheck reads a random fraction of the store's bundles whole and
// fails a check for each file of m whose chunks are damaged in them.
func sampleCheck(ctx context.Context, d *Dir, m *Manifest, subset float64, res *VerifyResult) error {
	st, err := d.Store(ctx)
	if err != nil {
		return nil // the structural checks said so already
	}
	cr, err := st.Check(ctx, store.CheckOptions{ReadData: true, Subset: subset})
	if err != nil {
		return err
	}
	res.Bytes += cr.BytesRead
	bad := map[store.ID]*store.BlobError{}
	for _, e := range cr.Damaged {
		bad[e.Blob] = e
	}
	c := check.Check{Name: "store-sample", Kind: "store"}
	var hit []*store.BlobError
	for _, f := range m.Files {
		l, err := d.ReadChunkList(ctx, f)
		if err != nil {
			continue
		}
		for _, ch := range l.Chunks {
			if e := bad[ch.ID]; e != nil {
				hit = append(hit, e)
			}
		}
	}
	if len(hit) > 0 {
		failBlobs(ctx, d, &c, hit)
	} else {
		pass(&c, fmt.Sprintf("%d of %d bundles read whole (%.0f%%), every chunk as written", cr.BundlesRead, cr.Bundles, subset*100))
	}
	res.Checks = append(res.Checks, c)
	return nil
}
