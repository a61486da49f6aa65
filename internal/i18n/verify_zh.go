package i18n

// verifyZH holds the verify messages in Simplified Chinese.
var verifyZH = map[string]string{
	// 校验：进度
	"verify.progress.manifest": "正在读取 %s 的 manifest",
	"verify.progress.file":     "正在校验 %s（%s）",
	"verify.progress.done":     "备份包校验通过",
	// 校验：通过的检查（按文件类型）
	"verify.ok":            "校验和与大小均与 manifest 一致",
	"verify.ok.manifest":   "manifest 有效：格式 %d，项目 %s，%d 个文件",
	"verify.ok.sums":       "所有校验和均与 manifest 一致",
	"verify.ok.volume":     "卷归档完整；校验和与大小一致",
	"verify.ok.images":     "镜像归档完整且包含所有镜像；校验和与大小一致",
	"verify.ok.sqlite":     "数据库在本地副本上通过检查；校验和与大小一致",
	"verify.ok.structural": "文件存在、大小与记录一致、结构完好（未计算哈希）",
	// 校验：失败的检查（按代码，再按文件类型）
	"verify.missing":          "文件缺失",
	"verify.missing.pack":     "不是备份包目录：请检查路径，以及共享是否已挂载",
	"verify.missing.manifest": "manifest.json 缺失",
	"verify.missing.sums":     "SHA256SUMS 缺失",
	"verify.not_regular":      "不是普通文件（链接可能指向备份包之外）",
	"verify.size_mismatch":    "大小与 manifest 不符：文件被截断或已被修改",
	"verify.sha256_mismatch":  "内容与写入时不同：该备份包不可信",
	"verify.structure":        "文件结构已损坏",
	"verify.structure.volume": "卷归档已损坏",
	"verify.structure.images": "镜像归档已损坏",
	"verify.structure.sqlite": "数据库快照未通过检查",
	"verify.images_missing":   "images.tar 缺少 manifest 所列的镜像或标签",
	"verify.read_error":       "无法读取该文件",
	"verify.sums_mismatch":    "SHA256SUMS 与 manifest 不一致",
	"verify.sums_invalid":     "SHA256SUMS 格式错误",
	"verify.manifest_invalid": "manifest.json 不是有效的 manifest",
	"verify.col.status":       "状态",
	"verify.col.check":        "检查",
	"verify.col.file":         "文件",
	"verify.col.summary":      "说明",
	"verify.status.ok":        "正常",
	"verify.status.failed":    "失败",
	"verify.expected_actual":  "预期 %s，实际 %s",
	"verify.kind.full":        "完整",
	"verify.kind.structural":  "结构",
	"verify.verdict.good":     "通过",
	"verify.verdict.failed":   "失败（%d / %d 项检查）",
	"verify.footer":           "%s：%s校验%s — 读取 %s，用时 %s",
	"verify.footer.hash":      "；包哈希 %s",
}

func init() { add(Chinese, verifyZH) }
