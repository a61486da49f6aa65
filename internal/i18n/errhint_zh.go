package i18n

// errHintZH: errHintEN in Chinese.
var errHintZH = map[string]string{
	"error.hint.age_identity_missing": "提示：该备份包已加密。请用 --age-identity 文件 指定其某个接收者的身份（age 私钥文件）（守护进程：设置 age_identity_file）。未做任何更改。",
	"error.hint.age_identity_wrong":   "提示：所给身份都无法打开该备份包。请提供错误信息中所列接收者之一的身份（--age-identity 文件）。未做任何更改。",
	"error.hint.plaintext_refused":    "提示：此处要求加密。请指定接收者（--age-recipient 或 --age-recipients-file；守护进程：age_recipients_file），或备份到不要求加密的目标。未写入任何内容。",
	"error.hint.naming_key":           "提示：加密的备份仓库需要其命名密钥文件。请用 --age-naming-key 文件 指定该仓库自己的密钥文件，或用 --age-identity 恢复它（守护进程在 <state-dir>/naming-keys/ 中为每个仓库保存一个）。未写入任何内容。",
	"error.hint.encryption_not_wired": "提示：此组合暂不支持加密（见 docs/encryption.md §7）；也没有改为写入明文。",
}

func init() { add(Chinese, errHintZH) }
