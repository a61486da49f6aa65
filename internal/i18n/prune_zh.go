package i18n

// pruneZH holds the prune messages in Simplified Chinese.
var pruneZH = map[string]string{
	// 清理：删除备份包的原因（PruneReason 代码）
	"prune.reason.beyond_keep": "超出最新的 %d 个",
	"prune.reason.max_age":     "早于 %s",
	"prune.reason.partial":     "未完成，早于 %s",
	// 清理：命令行输出
	"prune.newest":         "最新备份包 %s：%s校验%s",
	"prune.newest.good":    "通过",
	"prune.newest.failed":  "失败",
	"prune.deleted":        "已删除",
	"prune.would_delete":   "将删除",
	"prune.refused":        "未删除（已拒绝）",
	"prune.kept":           "保留",
	"prune.nothing":        "没有需要删除的备份包",
	"prune.refused_reason": "最新备份包未通过校验：较旧的备份包可能是仅有的完好备份（请用 `dockpack verify` 检查，或使用 --force 清理）",
}

func init() { add(Chinese, pruneZH) }
