package i18n_test

import (
	"fmt"

	"github.com/dockpack/dockpack/internal/i18n"
)

// Messages are looked up by key and formatted; codes are never translated.
func ExampleT() {
	lang, _ := i18n.Normalize("zh_CN.UTF-8")
	fmt.Println(lang)
	fmt.Println(i18n.T("en", "doctor.packs.ok", 2, "migration_pack_20260101_020000_000", "3h0m0s"))
	fmt.Println(i18n.T(lang, "doctor.packs.ok", 2, "migration_pack_20260101_020000_000", "3h0m0s"))
	// Output:
	// zh-CN
	// 2 complete pack(s), newest migration_pack_20260101_020000_000 (3h0m0s old)
	// 2 个完整备份包，最新为 migration_pack_20260101_020000_000（3h0m0s 前）
}
