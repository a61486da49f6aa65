package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/seal"
)

// TestErrorHint: in Chinese, an encryption error is followed by what to do
// in Chinese (by its code); English prints none (the error says it), and a
// code without a hint prints none.
func TestErrorHint(t *testing.T) {
	root := newRootCmd()
	for _, tc := range []struct {
		lang string
		err  error
		want string // "" = no hint
	}{
		{"zh-CN", fmt.Errorf("open pack: %w; restore refused, nothing was changed", seal.ErrNoIdentity), "--age-identity"},
		{"zh-CN", fmt.Errorf("x: %w", seal.ErrWrongIdentity), "接收者"},
		{"zh-CN", fmt.Errorf("x: %w", seal.ErrPlaintextRefused), "--age-recipient"},
		{"zh-CN", fmt.Errorf("x: %w", seal.ErrNamingKey), "--age-naming-key"},
		{"zh_CN.UTF-8", fmt.Errorf("x: %w", seal.ErrNamingKeyExists), "命名密钥"},
		{"en", fmt.Errorf("x: %w", seal.ErrNoIdentity), ""},
		{"zh-CN", errors.New("something else"), ""},
	} {
		if err := root.PersistentFlags().Set("lang", tc.lang); err != nil {
			t.Fatal(err)
		}
		got := errorHint(root, tc.err)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s, %v: hint %q, want one with %q", tc.lang, tc.err, got, tc.want)
		}
		if got != "" && !strings.HasPrefix(got, "提示") {
			t.Errorf("%s: hint %q is not Chinese", tc.lang, got)
		}
	}
}
