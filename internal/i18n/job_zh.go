package i18n

// jobZH holds the job messages in Simplified Chinese.
var jobZH = map[string]string{
	// 任务消息（任务的 message 与日志行；error_code 与 detail 不翻译）
	"job.starting":               "正在启动",
	"job.precheck":               "正在检查引擎、compose 栈、目标挂载与可用空间",
	"job.sqlite":                 "正在快照 SQLite 数据库 %s",
	"job.sqlite.phase":           "SQLite %s：%d / %d %s",
	"job.volumes.stopping":       "正在停止 %s，以获得一致的卷副本",
	"job.volumes.export":         "正在导出卷 %s",
	"job.volumes.restarting":     "正在重新启动已停止的服务",
	"job.images":                 "正在保存 %d 个镜像（%d 个引用）",
	"job.compose":                "正在复制 compose 文件",
	"job.manifest":               "正在写入 manifest.json 与 SHA256SUMS",
	"job.finalize":               "正在同步并重命名备份包",
	"job.pack_complete":          "备份包已完成：%s",
	"job.complete":               "备份完成：%s（%s）",
	"job.complete_late":          "备份完成：%s（%s）；取消请求到达太晚，未能停止",
	"job.canceled":               "已取消：%s",
	"job.failed":                 "备份在步骤 %s 失败：%s",
	"job.interrupted":            "已中断：运行该备份的进程已退出或失去了锁",
	"job.log.step":               "步骤 %s：%s",
	"job.log.stop_recorded":      "正在停止 %s 以获得一致的卷副本（已记录：即使崩溃也不会让它们保持停止）",
	"job.log.restarted":          "已重新启动 %s",
	"job.log.restart_skipped":    "不再重新启动 %s：另一个进程已接管备份锁并自行重新启动了它们",
	"job.log.restart_unrecorded": "容器 %s 已重新启动，但记录失败（%v）：下次恢复会再次启动它们（无害）",
	"job.log.restart_failed":     "重新启动 %s 失败：%v；下次恢复会重试，或请手工启动",
	"job.log.took_over":          "已接管备份锁：%s",
	"job.log.stopping":           "正在停止备份：%v",
	"job.log.retention":          "保留策略（保留 %d 个）：已删除 %s（%s，创建于 %s）",
	"job.log.retention_skip":     "已跳过保留策略：%v（备份本身已成功）",
	"job.log.recovered":          "已恢复任务 %d（由主机 %s pid %d 遗留未完成）：标记为失败（interrupted）",
	"job.log.partial_removed":    "已删除任务 %[2]d 的未完成备份包 %[1]s",
	"job.log.container_started":  "已重新启动容器 %s（由任务 %d 停止）",
	"job.log.cancel_requested":   "已请求取消：%s",
	"job.log.abandoned":          "备份在 %s 内未响应取消：释放锁并放弃该备份",
}

func init() { add(Chinese, jobZH) }
