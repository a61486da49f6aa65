package i18n

// imagesEN holds the messages of images by layer and of export in English.
var imagesEN = map[string]string{
	// backup: a store pack's images by layer
	"job.images_by_layer": "images by layer: %d images, %d complete in the store, %d to save",
	// export: a self-contained classic pack from any pack
	"export.progress.target":   "checking the destination %s",
	"export.progress.file":     "exporting %s (%s)",
	"export.progress.images":   "assembling images.tar: %d images (%s)",
	"export.progress.manifest": "writing the manifest and SHA256SUMS",
	"export.progress.finalize": "making the exported pack durable",
	"export.progress.done":     "exported pack %s complete",
	"export.done":              "exported %s\n      → %s (%d files, %s; package hash %s)",
}

func init() { add(English, imagesEN) }
