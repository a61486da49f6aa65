package i18n

// sealcheckZH holds the doctor's encryption-at-rest check in Chinese.
var sealcheckZH = map[string]string{
	"check.title.encryption":          "静态加密",
	"check.ev.sealed_packs":           "已加密的备份包",
	"check.ev.plaintext_packs":        "明文备份包",
	"check.ev.encryption_required":    "要求加密",
	"check.ev.configured_recipients":  "备份加密给",
	"check.ev.pack_recipients":        "备份包加密给",
	"check.ev.passphrase_packs":       "口令加密的备份包（未检查）",
	"check.ev.identity":               "身份对应",
	"check.ev.unopenable":             "无法解密的备份包",
	"check.ev.plaintext":              "明文",
	"doctor.seal.unlisted":            "无法列出 %s 中的备份包（原因见 packs 检查）",
	"doctor.seal.none":                "没有已加密的备份包，也没有配置要求加密",
	"doctor.seal.ok_plain":            "%d 个已加密的备份包：已配置加密，目标中没有明文备份包",
	"doctor.seal.ok_passphrase":       "%d 个已加密的备份包，使用口令加密（未检查：由人输入口令）",
	"doctor.seal.ok":                  "%d 个已加密的备份包；给定的身份可以解密它们",
	"doctor.seal.no_identity":         "%d 个备份包加密给 %s，但本机没有给定 age 身份：无法恢复、演练或完整校验它们",
	"doctor.seal.identity_unreadable": "无法读取 age 身份 %s",
	"doctor.seal.no_match":            "%d 个备份包加密给 %s；给定的身份属于 %s，一个也无法解密",
	"doctor.seal.identity.fix": "提供其中一个接收者的身份文件（age-keygen 的输出，权限 0600）：dockpack doctor/restore/verify " +
		"--age-identity FILE，或守护进程的设置 age_identity_file（dockpack serve --age-identity、$DOCKPACK_AGE_IDENTITY）；" +
		"没有它，这些备份包无法恢复",
	"doctor.seal.plaintext": "已配置加密，但目标中有 %d 个明文备份包（最新：%s）",
	"doctor.seal.plaintext.fix": "配置加密之前生成的备份包仍可被任何能读取目标的人读取：先做一次加密备份，" +
		"再删除这些明文备份包（dockpack prune）或将其移到安全的地方",
}

func init() { add(Chinese, sealcheckZH) }
