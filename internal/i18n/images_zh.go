package i18n

// imagesZH holds the messages of images by layer and of export in Chinese.
var imagesZH = map[string]string{
	// backup: a store pack's images by layer
	"job.images_by_layer": "按层保存镜像：共 %d 个镜像，%d 个已完整存在于存储库，%d 个需要保存",
	// export: a self-contained classic pack from any pack
	"export.progress.target":   "正在检查目标目录 %s",
	"export.progress.file":     "正在导出 %s（%s）",
	"export.progress.images":   "正在组装 images.tar：%d 个镜像（%s）",
	"export.progress.manifest": "正在写入清单和 SHA256SUMS",
	"export.progress.finalize": "正在持久化导出的备份包",
	"export.progress.done":     "导出的备份包 %s 已完成",
	"export.done":              "已导出 %s\n      → %s（%d 个文件，%s；包哈希 %s）",
}

func init() { add(Chinese, imagesZH) }
