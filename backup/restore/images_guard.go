package restore

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/tarcheck"
)

// maxArchiveJSON bounds an image config or manifest.json in images.tar.
const maxArchiveJSON = 16 << 20

// imagesGuard streams a classic pack's images.tar to the engine and checks,
// as it passes, everything the engine's load takes on trust — and leaves
// the rest to the engine, which checks it as docker load does:
//
//   - each image config (<hex>.json, blobs/sha256/<hex>) is hashed: its sha256 must be the
//     config digest of an image of the pack (the engine makes it the image
//     ID, the config lists the layers' DiffIDs);
//   - manifest.json must name those configs only, and only tags the pack
//     records for them (the engine sets the tags it lists);
//   - each layer is checked by the engine against the DiffID its config
//     lists (image/tarexport: "invalid diffID", dockerapi.ErrLayerMismatch)
//     as it registers it, so layer content is not hashed here.
//
// The engine loads nothing before its archive ends: a check that fails
// withholds the end-of-archive marker and fails the read (ErrPackChanged),
// so the upload is aborted and nothing of the archive is loaded. The file's
// size is checked too; its whole sha256 is verify's (this is what keeps a
// restore's upload as cheap as `docker load -i`'s).
type imagesGuard struct {
	r      io.Reader
	prog   io.Writer
	fe     pack.FileEntry
	tags   map[string][]string // config digest → the tags the pack records
	w      tarcheck.Walker
	n      int64
	ended  bool
	err    error
	config map[string]string // member name → "sha256:…" of its content; "" not a regular file
	man    []byte            // manifest.json; nil when absent or not a regular file
	tail   []byte            // what is left of the file after the chunk that ended the archive
}

// maxTail bounds what may follow the archive's end in the file (a tar
// writer pads to its record size: 10 KiB for tar(1), 1 KiB for Go's).
const maxTail = 64 << 10

func newImagesGuard(r io.Reader, prog io.Writer, fe pack.FileEntry, images []pack.ImageEntry) *imagesGuard {
	g := &imagesGuard{r: r, prog: prog, fe: fe, tags: map[string][]string{}, config: map[string]string{}}
	for _, im := range images {
		g.tags[im.ConfigDigest] = im.RepoTags
	}
	g.w = tarcheck.Walker{Keep: func(h *tar.Header) bool { return g.kept(tarcheck.ArchivePath(h.Name)) }, Max: maxArchiveJSON, Member: g.member}
	return g
}

// kept says whether a member is kept: manifest.json, or a config —
// <hex>.json (docker save's layout), or blobs/sha256/<hex> when that is
// the config digest of an image of the pack (the OCI layout of newer
// engines, whose other blobs are layers).
func (g *imagesGuard) kept(n string) bool {
	if n == "manifest.json" {
		return true
	}
	d := tarcheck.ConfigDigest(n)
	_, known := g.tags[d]
	return d != "" && (strings.HasSuffix(n, ".json") || known)
}

// member records a config's digest or manifest.json (the last member of a
// name wins, as in the untar).
func (g *imagesGuard) member(h *tar.Header, content []byte) error {
	n := tarcheck.ArchivePath(h.Name)
	if !g.kept(n) {
		return nil
	}
	regular := h.Typeflag == tar.TypeReg
	if n == "manifest.json" {
		g.man = nil
		if regular {
			g.man = content
		}
		return nil
	}
	g.config[n] = ""
	if regular {
		sum := sha256.Sum256(content)
		g.config[n] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return nil
}

func (g *imagesGuard) changed(format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrPackChanged, g.fe.Path, fmt.Sprintf(format, a...))
}

func (g *imagesGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.ended { // checked, and the rest of the file read (readTail)
		if len(g.tail) == 0 {
			return 0, io.EOF
		}
		n := copy(p, g.tail)
		g.tail = g.tail[n:]
		g.prog.Write(p[:n])
		return n, nil
	}
	n, err := g.r.Read(p)
	if n > 0 {
		g.n += int64(n)
		if g.n > g.fe.Size {
			g.err = g.changed("longer than the %d bytes the manifest records", g.fe.Size)
		} else if ended, werr := g.w.Feed(p[:n]); werr != nil {
			g.err = g.changed("%v", werr)
		} else if ended {
			g.ended = true
			if cerr := g.check(); cerr != nil {
				g.err = g.changed("%v", cerr)
			} else {
				g.err = g.readTail()
			}
		}
		if g.err != nil {
			return 0, g.err // these bytes (the archive's end among them) are withheld
		}
		g.prog.Write(p[:n])
	}
	if g.ended {
		return n, nil // the tail follows, then io.EOF
	}
	if errors.Is(err, io.EOF) {
		g.err = g.changed("%v", g.w.Finish())
		return n, g.err
	}
	return n, err
}

// readTail reads the rest of the file once the archive has ended, before
// the end goes on: the file must end within maxTail, at the size the
// manifest records.
func (g *imagesGuard) readTail() error {
	left := g.fe.Size - g.n
	if left > maxTail {
		return g.changed("the archive ends %d bytes before the file's recorded size", left)
	}
	b, err := io.ReadAll(io.LimitReader(g.r, left+1))
	if err != nil {
		return fmt.Errorf("%s: %w", g.fe.Path, err)
	}
	switch {
	case int64(len(b)) > left:
		return g.changed("longer than the %d bytes the manifest records", g.fe.Size)
	case int64(len(b)) < left:
		return g.changed("expected size %d, actual %d", g.fe.Size, g.n+int64(len(b)))
	}
	g.n += left
	g.tail = b
	return nil
}

// check runs at the archive's end, before the engine sees it: manifest.json
// names configs of the pack's images, held in full, and their tags only.
func (g *imagesGuard) check() error {
	if g.man == nil {
		return errors.New("it holds no manifest.json (a file) for the engine to load by")
	}
	var entries []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(g.man, &entries); err != nil {
		return fmt.Errorf("its manifest.json is not the list of images docker load reads: %v", err)
	}
	if len(entries) == 0 {
		return errors.New("its manifest.json lists no image")
	}
	var probs []string
	for _, e := range entries {
		name := tarcheck.ArchivePath(e.Config)
		digest, ok := g.config[name]
		switch tags, known := g.tags[digest]; {
		case !ok || digest == "":
			probs = append(probs, fmt.Sprintf("the config %s of %v is not a file of the archive", e.Config, e.RepoTags))
		case !known:
			probs = append(probs, fmt.Sprintf("the config %s hashes to %s, which is no image of the pack (changed?)", e.Config, digest))
		default:
			for _, t := range e.RepoTags {
				if !slices.Contains(tags, t) {
					probs = append(probs, fmt.Sprintf("manifest.json tags %s as %q, a tag the pack does not record for it (it records %v)", digest, t, tags))
				}
			}
		}
	}
	if len(probs) > 0 {
		return errors.New(strings.Join(probs, "; "))
	}
	return nil
}
