package i18n

// imagesZH holds the messages of images by layer and of export in Chinese.
var imagesZH = map[string]string{
	// backup: a store pack's images by layer
	"job.images_by_layer": "按层保存镜像：共 %d 个镜像，%d 个已完整存在于存储库，%d 个需要保存",
}

func init() { add(Chinese, imagesZH) }
