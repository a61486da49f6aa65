package i18n

// uiVerifyZH holds the messages of a pack verification run by the daemon
// in Simplified Chinese.
var uiVerifyZH = map[string]string{
	"verifyjob.started":          "正在校验备份包 %s",
	"verifyjob.item":             "正在检查 %s",
	"verifyjob.passed":           "备份包 %s 校验通过（%d 项检查）",
	"verifyjob.failed":           "备份包 %s 校验未通过：%d 项检查未通过",
	"verifyjob.error":            "备份包 %s 的校验在得出结论前停止：%s",
	"verifyjob.canceled":         "备份包 %s 的校验已取消：%s",
	"verifyjob.cancel_requested": "已请求取消：%s",
}

func init() { add(Chinese, uiVerifyZH) }
