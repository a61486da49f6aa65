package i18n

// consistencyZH holds the messages of application-consistent packs in
// Simplified Chinese.
var consistencyZH = map[string]string{
	// precheck: the compose check
	"check.title.compose":         "compose",
	"check.ev.model":              "compose 模型",
	"check.ev.compose_files":      "compose 文件",
	"check.ev.profiles":           "使用中的 profile",
	"check.ev.service":            "服务",
	"check.ev.volume_capture":     "卷",
	"check.ev.bind":               "绑定挂载",
	"check.ev.bind_captured":      "进入备份包的绑定挂载",
	"check.ev.stop_order":         "停止顺序",
	"check.ev.warning":            "警告",
	"precheck.compose.skip":       "未检查：未解析到服务栈",
	"precheck.compose.ok":         "%d 个服务：%d 个有钩子，%d 个有转储；卷：导出 %d 个，由转储覆盖 %d 个，排除 %d 个；收录 %d 个绑定挂载",
	"precheck.compose.ok_nomodel": "此处没有 compose 模型：钩子（%d 个服务）和转储（%d 个）取自容器标签；未对照模型检查完整性；收录 %d 个绑定挂载",

	"precheck.compose.label_invalid":        "服务 %s：某个 dockpack 标签无法使用",
	"precheck.compose.label_invalid.fix":    "按错误信息和 docs/consistency.md 修正标签：时长如 90s，hook-on-error 为 fail 或 continue，预设须为已知名称，引号须闭合",
	"precheck.compose.dump_not_running":     "服务 %s 配置了转储，但没有运行中的容器",
	"precheck.compose.dump_not_running.fix": "启动该服务（转储在其中运行），或去掉它的 dockpack.dump 标签",
	"precheck.compose.volume_missed":        "compose 模型中的命名卷 %s 不会进入备份包",
	"precheck.compose.volume_missed.fix":    "启动挂载它的服务，或给该服务加标签 dockpack.volumes=exclude（配合转储，或用 dockpack.exclude-reason 说明原因）",
	"precheck.compose.volume_absent":        "compose 模型中的命名卷 %s 在引擎上不存在（已排除）",
	"precheck.compose.volume_absent.fix":    "没有需要备份的内容；服务启动时 compose 会创建空卷",
	"precheck.compose.bind_uncaptured":      "绑定挂载 %s 不会进入备份包（--strict）",
	"precheck.compose.bind_uncaptured.fix":  "在 compose 文件中声明它、让 dockpack 所在处可以读取它、调大 --bind-max-size，或去掉 --strict",
	"precheck.compose.anonymous":            "位于 %s 的匿名卷不会进入备份包（--strict）",
	"precheck.compose.anonymous.fix":        "在 compose 文件中为它命名，或去掉 --strict",
	"precheck.compose.hook_not_running":     "服务 %s 配置了钩子，但没有运行中的容器：钩子将被跳过",
	"precheck.compose.hook_not_running.fix": "如果钩子重要，请启动该服务",
	"precheck.compose.model_unreadable":     "compose 文件无法读取：未对照模型检查完整性",
	"precheck.compose.model_unreadable.fix": "查看证据；让 dockpack 所在处可以读取 compose 文件（及其所需的变量）",

	// backup: hooks, dumps, binds
	"job.hooks.pre":  "正在运行备份前钩子：%s",
	"job.hooks.post": "正在运行备份后钩子：%s",
	"job.dump":       "正在将服务 %s 转储到 %s",
	"job.binds":      "正在收录 %d 个绑定挂载",

	// restore: binds, dumps, the next step
	"restore.progress.binds":     "正在恢复绑定挂载 %s",
	"restore.progress.dump":      "正在将 %s 载入服务 %s",
	"restore.next.dumps":         "下一步：启动服务栈（docker compose -p %s up -d，或 docker-compose），然后载入转储：dockpack restore %s --dumps",
	"restore.next.binds":         "备份包中有 %d 个绑定挂载的文件或目录；用 --binds（恢复到原路径）或 --binds-root DIR 恢复",
	"restore.note.binds_skipped": "未恢复绑定挂载（请给出 --binds 或 --binds-root）",
	"restore.problem.bind":       "绑定挂载 %s：%s",
	"restore.reason.bind_exists": "%s 已有数据（--force 可覆盖恢复）",
	"restore.dumps.none":         "备份包 %s 中没有转储",
	"restore.dumps.not_running":  "服务 %s 在项目 %s 中没有运行中的容器：请先启动服务栈（docker compose up -d）",
	"restore.dumps.no_command":   "服务 %s：备份包没有记录恢复命令（dockpack.restore-dump）；请手动载入 %s",
	"restore.dumps.done":         "已将 %s 载入 %s（%s，退出码 %d）",
	"restore.dumps.all":          "已向项目 %[2]s 载入 %[1]d 个转储",
	"restore.dumps.restarted":    "已重新启动 %s（其恢复命令为载入转储而停止了它）",

	// show：备份包的一致性部分
	"show.col.service":       "服务",
	"show.col.stopped":       "已停止",
	"show.col.captured":      "备份方式",
	"show.col.hooks":         "钩子",
	"show.col.bind":          "绑定挂载",
	"show.cs.nomodel":        "未读取 compose 模型（%s）：钩子和转储取自容器标签",
	"show.cs.volume":         "%s → %s",
	"show.cs.by_dump":        "%s → 由转储 %s 覆盖",
	"show.cs.excluded":       "%s 已排除：%s",
	"show.cs.dump":           "转储 %s（%s，用时 %d 毫秒）",
	"show.cs.hook":           "%s %s（退出码 %d，%d 毫秒）",
	"show.cs.hook.ok":        "成功",
	"show.cs.hook.failed":    "失败",
	"show.cs.hook.continued": "失败，已继续",
	"show.cs.hook.timed_out": "超时被终止",
	"show.cs.hook.skipped":   "已跳过（未运行）",
	"show.cs.yes":            "是",
	"show.cs.no":             "否",
	"show.cs.stop_order":     "停止顺序：%s（按相反顺序重新启动）",
	"show.cs.profiles":       "使用中的 compose profiles：%s",
	"show.cs.preset":         "%s（预设 %s）",
}

func init() { add(Chinese, consistencyZH) }
