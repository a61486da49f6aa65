package tarcheck

import "errors"

// ErrIncomplete is wrapped by every validation failure: the stream is not a
// complete, well-formed archive (truncated, damaged, an engine error appended,
// or something the archive references is missing).
var ErrIncomplete = errors.New("archive incomplete")

// ArchivedImage is one entry of the archive's manifest.json.
type ArchivedImage struct {
	ConfigDigest string // "sha256:<hex>", derived from the Config path ("<hex>.json" legacy, "blobs/sha256/<hex>" OCI)
	ConfigPath   string
	RepoTags     []string
	Layers       []string // layer paths as listed
}

// ImageArchive describes a validated image archive (docker save / ImageSave).
type ImageArchive struct {
	Format           string // "docker" (legacy: manifest.json + <id>/layer.tar), "oci" (index.json + blobs/), "docker+oci" (both)
	Bytes            int64  // every byte consumed from the stream, trailer/padding included
	Images           []ArchivedImage
	Files            int      // regular files in the tar
	MissingPlatforms []string // index.json entries whose manifest blob is absent and that manifest.json does not need (e.g. "linux/arm64" or the digest): tolerated, recorded
}

// TarSummary counts what a validated tar stream held.
type TarSummary struct {
	Bytes                                    int64 // bytes consumed from the input, trailer included
	Entries                                  int
	Files, Dirs, Symlinks, HardLinks, Others int
	ContentBytes                             int64 // sum of regular file sizes
}
