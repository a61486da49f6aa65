package i18n

// showZH holds the show messages in Simplified Chinese.
var showZH = map[string]string{
	// show：备份包的内容
	"show.pack":        "备份包        %s",
	"show.project":     "项目          %s",
	"show.created":     "创建时间      %s",
	"show.engine":      "引擎          %s（API %s，%s 镜像存储）",
	"show.hash":        "包哈希        %s",
	"show.size":        "大小          %s",
	"show.sqlite":      "sqlite        %s → %s（SQLite %s，%s 日志模式，%d 页，检查结果 %s）",
	"show.skipped":     "不在备份包中：",
	"show.untagged":    "%s（无标签）",
	"show.external":    "%s（外部）",
	"show.col.file":    "文件",
	"show.col.kind":    "类型",
	"show.col.size":    "大小",
	"show.col.sha256":  "SHA256",
	"show.col.image":   "镜像",
	"show.col.digest":  "配置摘要",
	"show.col.volume":  "卷",
	"show.col.driver":  "驱动",
	"show.col.content": "内容",
	// packs：目标目录中的备份包
	"packs.none":            "没有备份包",
	"packs.col.name":        "名称",
	"packs.col.status":      "状态",
	"packs.col.created":     "创建时间",
	"packs.col.age":         "时长",
	"packs.col.size":        "大小",
	"packs.col.project":     "项目",
	"packs.col.components":  "组件",
	"packs.status.complete": "完整",
	"packs.status.partial":  "未完成",
	"packs.status.invalid":  "无效",
}

func init() { add(Chinese, showZH) }
