package i18n

// s3ZH holds the messages of object storage targets (s3://bucket/prefix) in Chinese.
var s3ZH = map[string]string{
	"check.ev.location":            "位置",
	"check.ev.endpoint":            "服务端点",
	"check.ev.region":              "区域",
	"check.ev.clock_skew":          "时钟偏差（服务 − 本机）",
	"check.ev.exclusive_create":    "独占创建",
	"check.ev.uploads_in_progress": "进行中的上传",

	"precheck.s3.invalid":                  "%s 不是可用的对象存储目标",
	"precheck.s3.invalid.fix":              "目标写作 s3://bucket/prefix（bucket 只含小写字母、数字、点和连字符），服务端点和凭据通过 AWS_ENDPOINT_URL、AWS_REGION、AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY 或 profile 提供，切勿写在 URL 中",
	"precheck.s3.free_unknown":             "未测量（对象存储）",
	"precheck.s3.ok":                       "%[1]s 在 %[2]s 可用：探测对象已写入、读回并删除",
	"precheck.s3.ok_unprobed":              "%[1]s 在 %[2]s 可用（未做写入探测）",
	"precheck.s3.target_no_bucket":         "%[1]s 的 bucket 在 %[2]s 上不存在",
	"precheck.s3.target_no_bucket.fix":     "先创建该 bucket，或更正 %[1]s 中的 bucket 名称和服务端点（AWS_ENDPOINT_URL）：备份从不自行创建 bucket",
	"precheck.s3.target_access_denied":     "%[1]s 的凭据在 %[2]s 被拒绝",
	"precheck.s3.target_access_denied.fix": "检查访问密钥和秘密密钥（AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY、profile 或凭据文件），并确认其有权在 %[1]s 下列出、写入、读取和删除",
	"precheck.s3.target_unreachable":       "%[1]s 的对象存储服务在 %[2]s 无响应",
	"precheck.s3.target_unreachable.fix":   "检查服务端点（AWS_ENDPOINT_URL）、网络以及服务是否在运行，然后对 %[1]s 再次运行 doctor",
	"precheck.s3.target_probe_failed":      "无法在 %[1]s（%[2]s）中写入、读回并删除探测对象",
	"precheck.s3.target_probe_failed.fix":  "查看错误信息；凭据必须允许在 %[1]s 下写入、读取和删除，且服务必须有剩余空间",
	"precheck.s3.clock_skew":               "本机与对象存储服务的时钟相差 %[1]s（超过 %[2]s）：通过 bucket 共享的租约依赖时钟一致",
	"precheck.s3.clock_skew.fix":           "在本机同步时钟（chrony 或 systemd-timesyncd），并检查服务端的时钟",
}

func init() { add(Chinese, s3ZH) }
