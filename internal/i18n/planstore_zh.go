package i18n

// planStoreZH holds the plan's store estimate in Simplified Chinese.
var planStoreZH = map[string]string{
	"plan.store":                   "存储库   目标的备份包存储库 %s 预计缺少 %s（本次备份读取 %s；只写入缺少的部分）",
	"plan.store_new":               "存储库   目标中还没有备份包存储库：这第一次存储库备份将写入全部 %s",
	"plan.store_part":              "         %s：%s / %s（%s）",
	"plan.store_how.new_store":     "尚无存储库",
	"plan.store_how.by_digest":     "按摘要在存储库中逐个查找镜像配置和层",
	"plan.store_how.history":       "按最新的存储库备份包 %s 对每个文件新增的比例估算",
	"plan.store_how.no_history":    "该项目尚无存储库备份包能说明其变化多少：按全部计",
	"plan.store_component.db":      "数据库",
	"plan.store_component.volumes": "卷",
	"plan.store_component.images":  "镜像",
}

func init() { add(Chinese, planStoreZH) }
