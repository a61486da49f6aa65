package i18n

// storecheckZH holds the doctor's pack store check in Chinese.
var storecheckZH = map[string]string{
	"check.title.store":             "备份包存储库",
	"check.ev.store_id":             "存储库 ID",
	"check.ev.store_format":         "格式",
	"check.ev.store_leases":         "租约",
	"check.ev.store_lease":          "租约",
	"check.ev.store_index":          "索引",
	"check.ev.store_damaged":        "损坏的数据包",
	"check.ev.store_packs":          "已检查的存储库备份包",
	"check.ev.store_missing":        "缺少数据的备份包",
	"doctor.store.s3":               "此处不检查 s3:// 目标的存储库：请对其备份包运行 dockpack verify",
	"doctor.store.no_target":        "无法打开目标 %s（原因见“备份目标”一项）",
	"doctor.store.none":             "%s 中没有备份包存储库（只有经典格式的备份包）",
	"doctor.store.unreadable":       "无法读取 %s 中的备份包存储库",
	"doctor.store.unreadable.fix":   "检查目标中的 .dockpack/config.json 及其权限；由更新版本 dockpack 创建的存储库需要该版本",
	"doctor.store.index_unreadable": "无法读取 %s 中存储库的索引",
	"doctor.store.damaged":          "存储库索引列出的 %d 个数据包缺失或大小不符",
	"doctor.store.damaged.fix":      "对存储库备份包运行 dockpack verify：它会列出使用这些数据包的备份包（它们无法恢复）；用 dockpack prune 删除这些备份包，并检查目标的存储",
	"doctor.store.missing":          "%d 个存储库备份包引用了索引中没有的数据块",
	"doctor.store.missing.fix":      "这些备份包无法恢复：对它们运行 dockpack verify，并确保除 dockpack 外没有程序删除目标中的文件",
	"doctor.store.unindexed":        "%d 个数据包没有被任何索引列出（中断的备份留下的）",
	"doctor.store.unindexed.fix":    "无害：下一次 dockpack prune 会删除它们",
	"doctor.store.locked":           "存储库被 %s 独占（主机 %s，pid %d）：备份会等待它结束",
	"doctor.store.locked.fix":       "一次清理正在回收空间；若它已中断，其租约会自行过期",
	"doctor.store.stale_lease":      "存储库中留有 %d 个已终止或已过期的租约",
	"doctor.store.stale_lease.fix":  "无害：下一次备份或清理会删除它们",
	"doctor.store.ok":               "备份包存储库：%d 个数据包，%d 个数据块；索引与数据包及存储库备份包一致",
}

func init() { add(Chinese, storecheckZH) }
