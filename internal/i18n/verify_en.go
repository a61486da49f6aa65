package i18n

// verifyEN holds the verify messages in English.
var verifyEN = map[string]string{
	// verify: progress
	"verify.progress.manifest": "reading the manifest of %s",
	"verify.progress.file":     "verifying %s (%s)",
	"verify.progress.done":     "pack verified",
	// verify: the summary of a passing check (by file kind)
	"verify.ok":            "checksum and size match the manifest",
	"verify.ok.manifest":   "valid manifest: format %d, project %s, %d files",
	"verify.ok.sums":       "every checksum agrees with the manifest",
	"verify.ok.volume":     "volume archive complete; checksum and size match",
	"verify.ok.images":     "image archive complete with every image; checksum and size match",
	"verify.ok.sqlite":     "the database passes its check on a local copy; checksum and size match",
	"verify.ok.structural": "present with its recorded size and a well-formed structure (not hashed)",
	// verify: the summary of a failing check (by code, then file kind)
	"verify.missing":          "the file is missing",
	"verify.missing.pack":     "not a pack directory: check the path, and that the share is mounted",
	"verify.missing.manifest": "manifest.json is missing",
	"verify.missing.sums":     "SHA256SUMS is missing",
	"verify.not_regular":      "not a regular file (a link could point out of the pack)",
	"verify.size_mismatch":    "the size differs from the manifest: the file was truncated or changed",
	"verify.sha256_mismatch":  "the content differs from what was written: the pack cannot be trusted",
	"verify.structure":        "the file's structure is damaged",
	"verify.structure.volume": "the volume archive is damaged",
	"verify.structure.images": "the image archive is damaged",
	"verify.structure.sqlite": "the database snapshot fails its check",
	"verify.images_missing":   "images.tar lacks images or tags the manifest lists",
	"verify.read_error":       "the file could not be read",
	"verify.sums_mismatch":    "SHA256SUMS disagrees with the manifest",
	"verify.sums_invalid":     "SHA256SUMS is malformed",
	"verify.manifest_invalid": "manifest.json is not a valid manifest",
	"verify.col.status":       "STATUS",
	"verify.col.check":        "CHECK",
	"verify.col.file":         "FILE",
	"verify.col.summary":      "SUMMARY",
	"verify.status.ok":        "ok",
	"verify.status.failed":    "FAILED",
	"verify.expected_actual":  "expected %s, actual %s",
	"verify.kind.full":        "full",
	"verify.kind.structural":  "structural",
	"verify.verdict.good":     "GOOD",
	"verify.verdict.failed":   "FAILED (%d of %d checks)",
	"verify.footer":           "%s: %s check %s — %s read in %s",
	"verify.footer.hash":      "; package hash %s",
}

func init() { add(English, verifyEN) }
