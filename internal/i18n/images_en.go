package i18n

// imagesEN holds the messages of images by layer and of export in English.
var imagesEN = map[string]string{
	// backup: a store pack's images by layer
	"job.images_by_layer": "images by layer: %d images, %d complete in the store, %d to save",
}

func init() { add(English, imagesEN) }
