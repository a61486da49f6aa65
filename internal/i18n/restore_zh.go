package i18n

// restoreZH holds the restore messages in Simplified Chinese.
var restoreZH = map[string]string{
	// 恢复：计划的说明
	"restore.note.no_sqlite_dest":  "备份包含数据库；未指定 --sqlite-dest 时不恢复数据库",
	"restore.note.renamed":         "将项目 %s 恢复为名称 %s",
	"restore.note.images_present":  "备份包中的所有镜像已在引擎上且配置摘要一致：不加载 images.tar",
	"restore.note.external_volume": "卷 %s 不属于该项目（外部卷）：保留原名",
	"restore.note.custom_name":     "卷 %s 在 compose 文件中有自定义名称：在项目 %s 下保留原名",
	"restore.note.driver_differs":  "卷 %s 保留其驱动 %q 与标签，它们与备份包中的不同：`docker compose up` 可能不会接管它",
	// 恢复：计划的问题（任一问题都会拒绝恢复）
	"restore.problem.tag_moves":   "标签 %s 在引擎上指向其他镜像：加载备份包会移动这些标签（使用 --force 允许）",
	"restore.problem.database":    "数据库：%s",
	"restore.problem.duplicate":   "卷 %s 与 %s 都会被恢复为 %s",
	"restore.problem.volume":      "卷 %s：%s",
	"restore.problem.volume_data": "卷 %s %s",
	"restore.refused":             "已拒绝恢复：%s：%s；未做任何更改",
	// 恢复：卷或数据库采取该操作的原因
	"restore.reason.db_not_regular": "%s 已存在且不是普通文件",
	"restore.reason.db_exists":      "%s 已有数据库（%s）：使用 --force 替换（原子替换；数据库使用中时拒绝）",
	"restore.reason.db_dir_missing": "数据库所在目录 %s 不存在",
	"restore.reason.duplicate":      "目标名称重复",
	"restore.reason.in_use":         "正被运行中的容器 %s 使用：请先停止它们，或使用 --stop-running 恢复",
	"restore.reason.incomplete":     "由 %s 的一次失败恢复遗留为不完整",
	"restore.reason.holds_data":     "已存在且有数据：使用 --force 替换",
	"restore.reason.empty":          "已存在，为空",
	"restore.reason.forced":         "已存在且有数据（--force）",
	"restore.reason.referenced":     "%s；被容器 %s 引用，因此保留该卷并将备份包内容解压覆盖到其中（不在备份包中的文件保留；驱动与标签保持不变）",
	// 恢复：进度
	"restore.progress.plan":           "正在规划恢复",
	"restore.progress.images":         "正在加载 %d 个镜像（%s）",
	"restore.progress.images_present": "备份包中的所有镜像均已存在",
	"restore.progress.stopping":       "恢复卷期间正在停止 %s",
	"restore.progress.volume":         "正在恢复卷 %s（%s，%s）",
	"restore.progress.sqlite":         "正在将数据库恢复到 %s",
	"restore.progress.done":           "恢复完成",
	// 恢复：命令行输出的计划与结果
	"restore.show.pack":            "备份包    %s",
	"restore.show.project":         "项目      %s",
	"restore.show.project_renamed": "项目      %s（备份时为 %s）",
	"restore.show.restoring":       "恢复内容  %s（需读取 %s）",
	"restore.show.moves":           "移动 %s",
	"restore.show.database":        "数据库    %s → %s（%s，%s）%s",
	"restore.show.stop":            "恢复期间停止、之后重新启动：%s",
	"restore.show.note":            "说明：%s",
	"restore.show.refused":         "拒绝：%s",
	"restore.show.done":            "已从 %[2]s 恢复 %[1]s，用时 %[3]s",
	"restore.col.image":            "镜像",
	"restore.col.digest":           "配置摘要",
	"restore.col.action":           "操作",
	"restore.col.note":             "说明",
	"restore.col.volume":           "卷",
	"restore.col.from":             "来源",
	"restore.col.content":          "内容",
}

func init() { add(Chinese, restoreZH) }
