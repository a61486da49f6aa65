package i18n

// sealZH holds the messages of encryption at rest (age) in Simplified Chinese.
var sealZH = map[string]string{
	"seal.show.encryption": "加密          age，加密给 %s（恢复、完整校验和导出需要 --age-identity）",
}

func init() { add(Chinese, sealZH) }
