package i18n

// liverestoreZH holds the messages of real restores (the live database) in Chinese.
var liverestoreZH = map[string]string{
	"liverestore.invalid_job_id":        "job_id %d 不是有效的任务编号",
	"liverestore.path_required":         "请以任务的 output_dir 作为 backup_path",
	"liverestore.hash_required":         "请以任务的 package_hash 作为 backup_hash",
	"liverestore.reason_required":       "请填写本次真实恢复的原因（change_reason）",
	"liverestore.confirmation_required": "请输入 %s 以确认真实恢复（confirmation_text）",
	"liverestore.confirmation_invalid":  "确认文字 %q 不是 %s：未做任何更改",
	"liverestore.busy":                  "备份或恢复演练正在占用备份锁（任务 %d）：请等待其结束，未做任何更改",
	"liverestore.not_configured":        "未配置当前数据库（设置项 auth_db_path）",
	"liverestore.no_pack":               "任务 %d（%s）没有可恢复的备份包",
	"liverestore.path_mismatch":         "backup_path %s 不是任务 %d 的备份包（%s）",
	"liverestore.hash_mismatch":         "backup_hash %s 不是任务 %d 的 package_hash（%s）",
	"liverestore.live_missing":          "当前数据库 %s 不存在；请改用 dockpack restore --sqlite-dest 恢复",
	"liverestore.pack_unreadable":       "无法读取备份包 %s：%v",
	"liverestore.pack_changed":          "备份包清单的哈希现为 %s，任务 %d 记录的是 %s：备份包在备份后被改动，未做任何恢复",
	"liverestore.pack_failed":           "备份包校验失败，未做任何恢复：%s",
	"liverestore.no_db":                 "备份包 %s 中没有数据库",
	"liverestore.db_changed":            "备份包中的数据库 %s 的 sha256 为 %s，清单记录为 %s：备份后被改动，未做任何恢复",
	"liverestore.db_corrupt":            "备份包中的数据库 %s 不是完好的数据库：%v；未做任何恢复",
	"liverestore.engine":                "Docker Engine 无法列出需要停止的容器：%v；未做任何更改",
	"liverestore.selector":              "restore_stop_services：%v",
	"liverestore.stop_failed":           "停止 %s 失败：%v；未做任何恢复，已停止的容器已重新启动",
	"liverestore.keep_failed":           "恢复前无法保留当前数据库 %s：%v；未做任何恢复",
	"liverestore.in_use":                "停止 %[2]s 后当前数据库 %[1]s 仍在使用中：%[3]v；未做任何恢复（请在设置项 restore_stop_services 中填写占用它的容器）",
	"liverestore.copy_failed":           "替换当前数据库 %s 失败：%v；数据库未被改动",
	"liverestore.notes.done":            "已从任务 %d 的备份包恢复当前数据库；被替换的数据库保留为 %s",
	"liverestore.notes.restart_failed":  "重新启动 %s 失败：请手动启动（下次恢复检查会重试）",
	"liverestore.log.done":              "%s 执行真实恢复：本备份包替换了当前数据库 %s（原因：%s）；被替换的数据库保留为 %s",
	"liverestore.log.interrupted":       "真实恢复 %s（由 %s 发起）被中断：其进程已退出或失去了锁；它停止的容器将被重新启动",
	"liverestore.log.restart_failed":    "无法重新启动 %s（由真实恢复 %s 停止）：%v；下次恢复检查会重试，或请手动启动",
	"liverestore.cli.kept":              "被替换的数据库已保留为 %s（如需撤销，可从该文件恢复）",
	"liverestore.log.restarted":         "已重新启动 %s（由真实恢复 %s 停止）",
}

func init() { add(Chinese, liverestoreZH) }
