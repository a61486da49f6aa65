package i18n

// apiZH holds the sentences the HTTP API writes for people, in Chinese.
var apiZH = map[string]string{
	"api.start_refused": "无法开始备份：%s",
	"api.list_sep":      "；",
	"api.busy_other":    "备份锁正被恢复演练、真实恢复或备份包校验占用（任务 %d），请在其结束后再试。",
	"api.refused.local_backup_target_not_configured": "无法开始备份：未配置备份目标目录（设置项 target_local_dir）。",
	"api.refused.project_not_configured":             "无法开始备份：未配置 Compose 项目（设置项 ragflow_project_name，或用于推导它的 ragflow_compose_path）。",
}

func init() { add(Chinese, apiZH) }
