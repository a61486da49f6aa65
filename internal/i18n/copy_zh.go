package i18n

// copyZH holds the messages of dockpack copy in Chinese.
var copyZH = map[string]string{
	"copy.done":    "%[1]s 已复制到 %[2]s：%[3]d 个文件到达后已校验（发送 %[4]d 个，%[5]d 个已存在），共发送 %[6]s",
	"copy.already": "%[1]s 在 %[2]s 中已完整：其 %[3]d 个文件均已校验",
}

func init() { add(Chinese, copyZH) }
