package i18n

// storeZH holds the pack store's messages in Chinese.
var storeZH = map[string]string{
	// verify of a store pack (format 2)
	"verify.blob_damaged":  "该文件存储的数据块损坏或缺失：无法恢复此文件",
	"verify.chunk_list":    "该文件的数据块列表缺失或与清单不一致",
	"verify.store_missing": "无法读取目标上的备份包存储库",
	"verify.ok.store":      "抽样的数据包读取结果与写入时一致",
	// packs: store columns
	"packs.col.format": "格式",
	"packs.col.added":  "新增",
	// prune: garbage collection of the store
	"prune.gc":         "存储库：保留 %d 个数据包，重写 %d 个，删除 %d 个（释放 %s，重写 %s）",
	"prune.gc.skipped": "存储库：已跳过垃圾回收：%s",
}

func init() { add(Chinese, storeZH) }
