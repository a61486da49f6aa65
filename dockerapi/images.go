package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	units "github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

// SavedImage is one image found in a saved archive's manifest.json.
type SavedImage struct {
	Ref          string // the first repo tag, or the config digest when untagged
	ConfigDigest string // "sha256:…" of the image config
	RepoTags     []string
}

// SaveResult describes a validated image archive.
type SaveResult struct {
	Bytes            int64        // bytes written to w
	Images           []SavedImage // from the archive's manifest.json
	MissingPlatforms []string     // index entries for platforms that were never pulled (tolerated)
	// FirstByte is the time from the request to the first byte of the body:
	// graph-driver engines stage the whole export in their data root first.
	FirstByte time.Duration
	Platform  string // the platform asked for ("linux/amd64"), empty when the API cannot choose
}

// SaveImages exports refs with ONE ImageSave call (shared layers are stored
// once) and writes the stream to w byte for byte (so `docker load -i` works
// on the result) while validating it: tar well-formed, manifest.json and
// every blob it references present, clean end of archive, no engine error
// appended. Anything else is ErrImageSaveIncomplete naming what is missing:
// the bytes already written are then not an archive and must be discarded.
//
// Save tagged images by tag (Image.SaveRef) so that a load restores their
// names. When the negotiated API is ≥ 1.48 and every image is of the
// engine's own platform, only that platform is exported.
// Canceling ctx aborts the transfer promptly.
func (c *Client) SaveImages(ctx context.Context, refs []string, w io.Writer) (SaveResult, error) {
	refs = appendUnique(nil, refs...)
	if len(refs) == 0 {
		return SaveResult{}, fmt.Errorf("%w: SaveImages needs at least one image reference", ErrInvalidArgument)
	}
	what := "images " + strings.Join(refs, ", ")
	var res SaveResult
	var opts []client.ImageSaveOption
	if p, ok := c.savePlatform(ctx, refs); ok {
		opts = append(opts, client.ImageSaveWithPlatforms(p))
		res.Platform = formatPlatform(p)
	}
	start := time.Now()
	body, err := c.cli.ImageSave(ctx, refs, opts...)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrImageSaveIncomplete, c.engineErr("export "+what, err, ErrImageNotFound))
	}
	defer body.Close()
	// closing the body is what unblocks a read stuck on a silent engine
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()

	fb := &firstByteReader{r: body, start: start}
	cw := &countWriter{w: w}
	// Read directly, not ahead: reading the socket ahead in a goroutine of
	// its own cost half as much CPU again (BenchmarkImagesClassic).
	arch, verr := tarcheck.ValidateImageArchive(ctx, io.TeeReader(fb, cw))
	res.Bytes, res.FirstByte = cw.n, fb.d
	switch {
	case cw.err != nil:
		return res, fmt.Errorf("write image archive of %s after %s: %w", what, units.HumanSize(float64(cw.n)), cw.err)
	case ctx.Err() != nil:
		return res, fmt.Errorf("%w: export of %s stopped after %s: %w", ErrImageSaveIncomplete, what, units.HumanSize(float64(cw.n)), ctx.Err())
	case verr != nil:
		return res, fmt.Errorf("%w: %s (%s received; discard it): %w", ErrImageSaveIncomplete, what, units.HumanSize(float64(cw.n)), verr)
	}
	res.MissingPlatforms = arch.MissingPlatforms
	for _, im := range arch.Images {
		ref := im.ConfigDigest
		if len(im.RepoTags) > 0 {
			ref = im.RepoTags[0]
		}
		res.Images = append(res.Images, SavedImage{Ref: ref, ConfigDigest: im.ConfigDigest, RepoTags: im.RepoTags})
	}
	if missing := c.refsMissing(ctx, refs, res.Images); len(missing) > 0 {
		return res, fmt.Errorf("%w: the archive of %s does not contain %s (manifest.json lists %d image(s)); discard it",
			ErrImageSaveIncomplete, what, strings.Join(missing, ", "), len(res.Images))
	}
	c.log.Debug("images saved", zap.Strings("refs", refs), zap.Int64("bytes", res.Bytes),
		zap.Duration("first_byte", res.FirstByte), zap.Strings("missing_platforms", res.MissingPlatforms))
	return res, nil
}

// refsMissing lists the requested refs that the archive's manifest does not
// name. Tags are compared in their normalised form; IDs against config
// digests, which equal image IDs only on the graph-driver store.
func (c *Client) refsMissing(ctx context.Context, refs []string, imgs []SavedImage) []string {
	tags := map[string]bool{}
	var digests []string
	for _, im := range imgs {
		digests = append(digests, strings.TrimPrefix(im.ConfigDigest, "sha256:"))
		for _, t := range im.RepoTags {
			tags[normalizeRef(t)] = true
		}
	}
	var missing []string
	for _, r := range refs {
		if id, ok := imageIDRef(r); ok {
			if ei, err := c.engineInfo(ctx); err == nil && ei.ImageStore == ImageStoreContainerd {
				continue // IDs are manifest digests there
			}
			found := false
			for _, d := range digests {
				if strings.HasPrefix(d, id) {
					found = true
					break
				}
			}
			if !found {
				missing = append(missing, r)
			}
			continue
		}
		if !tags[normalizeRef(r)] {
			missing = append(missing, r)
		}
	}
	return missing
}

// imageIDRef reports whether r is an image ID ("sha256:<hex>" or a bare hex
// prefix of ≥ 12 digits) and returns its hex part.
func imageIDRef(r string) (string, bool) {
	h := strings.TrimPrefix(r, "sha256:")
	if len(h) < 12 || len(h) > 64 {
		return "", false
	}
	for _, ch := range h {
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return "", false
		}
	}
	return h, true
}

// savePlatform picks the engine's own platform for ImageSave when the API
// allows choosing one (≥ 1.48) and every image is of that platform (asking
// for a platform an image lacks fails the export).
func (c *Client) savePlatform(ctx context.Context, refs []string) (ocispec.Platform, bool) {
	if !c.apiAtLeast("1.48") {
		return ocispec.Platform{}, false
	}
	ei, err := c.engineInfo(ctx)
	if err != nil || ei.OS == "" || ei.Arch == "" {
		return ocispec.Platform{}, false
	}
	for _, r := range refs {
		ii, err := c.cli.ImageInspect(ctx, r)
		if err != nil {
			return ocispec.Platform{}, false
		}
		arch, variant := normalizeArch(ii.Architecture)
		if ii.Os != ei.OS || arch != ei.Arch || (ii.Variant != "" && ei.Variant != "" && ii.Variant != ei.Variant) {
			c.log.Debug("saving all platforms: image platform differs from the engine's",
				zap.String("ref", r), zap.String("image", ii.Os+"/"+arch+variant), zap.String("engine", ei.OS+"/"+ei.Arch))
			return ocispec.Platform{}, false
		}
	}
	return ocispec.Platform{OS: ei.OS, Architecture: ei.Arch, Variant: ei.Variant}, true
}

func formatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// LoadResult lists what the engine reported as loaded.
type LoadResult struct {
	Loaded []string // "app:1" for "Loaded image: app:1", "sha256:…" for "Loaded image ID: sha256:…"
	Notes  []string // other messages (e.g. a tag moved away from an older image)
	// Upload is the time from the request to the end of the archive read
	// (its last blocks then still going out): the rest of the load is the
	// engine's, which commits the images only after the whole archive.
	Upload time.Duration
}

// LoadImages streams an image archive into the engine and parses the
// engine's JSON message stream: the engine answers 200 even when the load
// fails, so an error message inside it — or no "Loaded image" line at all —
// is ErrImageLoad carrying the engine's words.
func (c *Client) LoadImages(ctx context.Context, r io.Reader) (LoadResult, error) {
	src := &sourceReader{r: r}
	start := time.Now()
	ahead := newAheadReader(src) // r read while the previous blocks go to the engine
	defer ahead.stop(ctx)
	resp, err := c.cli.ImageLoad(ctx, ahead, client.ImageLoadWithQuiet(true))
	if serr := src.failure(); serr != nil {
		if err == nil {
			resp.Body.Close()
		}
		return LoadResult{}, fmt.Errorf("%w: reading the archive failed, the upload was aborted: %w", ErrImageLoad, serr)
	}
	if err != nil {
		return LoadResult{}, fmt.Errorf("%w: %w", ErrImageLoad, c.engineErr("load images", err, nil))
	}
	defer resp.Body.Close()
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	res, err := parseLoadStream(resp.Body, resp.JSON)
	if end, ok := ahead.ended(); ok {
		res.Upload = end.Sub(start)
	}
	if serr := src.failure(); serr != nil {
		return res, fmt.Errorf("%w: reading the archive failed, the upload was aborted: %w", ErrImageLoad, serr)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%w: load canceled: %w", ErrImageLoad, ctx.Err())
	}
	if err != nil {
		return res, err
	}
	c.log.Debug("images loaded", zap.Strings("loaded", res.Loaded))
	return res, nil
}

// loadMessage is one message of the engine's JSON stream (jsonmessage).
type loadMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	ID          string `json:"id"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
}

const maxLoadResponse = 16 << 20

// parseLoadStream reads the body of POST /images/load. isJSON is the
// response's Content-Type verdict; a plain-text body is parsed line by line.
func parseLoadStream(r io.Reader, isJSON bool) (LoadResult, error) {
	var res LoadResult
	r = io.LimitReader(r, maxLoadResponse)
	addLines := func(text string) {
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case strings.HasPrefix(line, "Loaded image ID: "):
				res.Loaded = append(res.Loaded, strings.TrimSpace(strings.TrimPrefix(line, "Loaded image ID: ")))
			case strings.HasPrefix(line, "Loaded image: "):
				res.Loaded = append(res.Loaded, strings.TrimSpace(strings.TrimPrefix(line, "Loaded image: ")))
			default:
				res.Notes = append(res.Notes, line)
			}
		}
	}
	if !isJSON {
		b, err := io.ReadAll(r)
		if err != nil {
			return res, fmt.Errorf("%w: reading the engine's answer: %w", ErrImageLoad, err)
		}
		addLines(string(b))
		if len(res.Loaded) == 0 {
			return res, fmt.Errorf("%w: the engine loaded nothing; it said: %q", ErrImageLoad, truncate(strings.TrimSpace(string(b)), 500))
		}
		return res, nil
	}
	dec := json.NewDecoder(r)
	for {
		var m loadMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("%w: the engine's answer is not a JSON message stream (after %d loaded): %v", ErrImageLoad, len(res.Loaded), err)
		}
		if m.ErrorDetail != nil || m.Error != "" {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			var kind error = loadErr{ErrImageLoad}
			if strings.Contains(msg, "invalid diffID") { // image/tarexport's check of a layer against its config
				kind = loadErr{ErrImageLoad, ErrLayerMismatch}
			}
			if len(res.Loaded) > 0 {
				return res, fmt.Errorf("%w: the engine reported an error after loading %s: %s", kind, strings.Join(res.Loaded, ", "), msg)
			}
			return res, fmt.Errorf("%w: the engine reported: %s", kind, msg)
		}
		if m.Stream != "" {
			addLines(m.Stream)
		}
	}
	if len(res.Loaded) == 0 {
		return res, fmt.Errorf("%w: the engine's answer names no loaded image (is the archive empty?)", ErrImageLoad)
	}
	return res, nil
}

// loadErr is ErrImageLoad, and what made the engine refuse the archive
// when it is known (ErrLayerMismatch); its message is the first's.
type loadErr []error

func (e loadErr) Error() string   { return e[0].Error() }
func (e loadErr) Unwrap() []error { return e }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ImageConfigDigest returns the config digest ("sha256:…") of the image ref
// names: a restored image is checked by it, because image IDs differ
// between image stores. On the graph-driver store the image ID is the config
// digest. The containerd store's IDs are manifest digests and the API
// exposes no config digest, so there it is ErrUnsupported (compare the
// digests recorded in a saved archive's manifest.json instead).
func (c *Client) ImageConfigDigest(ctx context.Context, ref string) (string, error) {
	ei, err := c.engineInfo(ctx)
	if err != nil {
		return "", err
	}
	ii, err := c.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", c.engineErr("inspect image "+ref, err, ErrImageNotFound)
	}
	if ei.ImageStore == ImageStoreContainerd {
		return "", fmt.Errorf("%w: config digest of %s: the engine uses the containerd image store, whose image IDs (%s) are manifest digests and whose API does not expose the config digest; check the image by its tags and the config digest in the archive's manifest.json",
			ErrUnsupported, ref, ii.ID)
	}
	return ii.ID, nil
}

// RemoveImage removes an image (untags it when ref is one of several tags).
// force also removes it when containers use it.
func (c *Client) RemoveImage(ctx context.Context, ref string, force bool) error {
	_, err := c.cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: force, PruneChildren: true})
	return c.engineErr("remove image "+ref, err, ErrImageNotFound)
}

// countWriter counts bytes written through it and remembers the first error.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (cw *countWriter) Write(p []byte) (int, error) {
	if cw.err != nil {
		return 0, cw.err
	}
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	cw.err = err
	return n, err
}

// firstByteReader records the time to the first byte read.
type firstByteReader struct {
	r     io.Reader
	start time.Time
	d     time.Duration
	seen  bool
}

func (f *firstByteReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && !f.seen {
		f.seen, f.d = true, time.Since(f.start)
	}
	return n, err
}
