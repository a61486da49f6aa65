package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
)

var sqliteMagic = []byte("SQLite format 3\x00")

// imageArchiveManifest is the top-level manifest.json of an image archive.
const imageArchiveManifest = "manifest.json"

// structuralCheck checks one file without hashing it.
func structuralCheck(ctx context.Context, d *Dir, m *Manifest, f FileEntry) (check.Check, error) {
	if m.IsStore() {
		return storeStructuralCheck(ctx, d, m, f)
	}
	if m.Sealed() {
		return sealedStructuralCheck(ctx, d, m, f) // sealed.go
	}
	c := fileCheck(f, m)
	fh, ok := openPackFile(ctx, d, f, &c)
	if !ok {
		return c, nil
	}
	defer fh.Close()
	switch f.Kind {
	case FileVolume, FileImages, FileBind:
		entries, names, err := walkTarHeaders(ctx, fh)
		if ctx.Err() != nil {
			return c, context.Cause(ctx)
		}
		switch {
		case err != nil:
			fail(&c, CodeStructure, fmt.Sprintf("tar headers: %v", err))
		case entries == 0:
			fail(&c, CodeStructure, "the tar holds no entry")
		case f.Kind == FileImages && !names[imageArchiveManifest]:
			fail(&c, CodeStructure, "images.tar has no manifest.json")
		default:
			pass(&c, fmt.Sprintf("%d tar headers well-formed", entries))
		}
	case FileSQLite:
		head := make([]byte, len(sqliteMagic))
		if _, err := io.ReadFull(fh, head); err != nil || !bytes.Equal(head, sqliteMagic) {
			differ(&c, CodeStructure, "an SQLite database header", fmt.Sprintf("%q", head), "not an SQLite database")
		} else {
			pass(&c, "SQLite header")
		}
	case FileDump:
		if f.Size == 0 {
			fail(&c, CodeStructure, "the dump is empty")
		} else {
			pass(&c, "size")
		}
	default:
		pass(&c, "size")
	}
	return c, nil
}

// walkTarHeaders reads every header of a tar file, seeking over the data
// (archive/tar seeks an io.Seeker and reads the last byte of each entry, so
// a truncated file is noticed). It returns the entry count and the
// top-level names.
func walkTarHeaders(ctx context.Context, f *os.File) (int, map[string]bool, error) {
	tr := tar.NewReader(f)
	names := map[string]bool{}
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, names, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, names, nil
		}
		if err != nil {
			return n, names, fmt.Errorf("after %d entries: %w", n, err)
		}
		n++
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
}
