package i18n_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/internal/i18n"
)

// TestCatalogsMatch: every key exists in every language, and each
// translation formats the same arguments with the same verbs.
func TestCatalogsMatch(t *testing.T) {
	en := i18n.Keys(i18n.English)
	if len(en) < 100 {
		t.Fatalf("the English catalog has only %d keys", len(en))
	}
	for _, lang := range i18n.Supported() {
		keys := i18n.Keys(lang)
		for _, k := range en {
			if !slices.Contains(keys, k) {
				t.Errorf("%s: key %q is missing", lang, k)
			}
		}
		for _, k := range keys {
			if !slices.Contains(en, k) {
				t.Errorf("%s: key %q is not in the English catalog", lang, k)
			}
		}
	}
	for _, k := range en {
		ref := i18n.Verbs(i18n.T(i18n.English, k))
		for _, lang := range i18n.Supported()[1:] {
			if got := i18n.Verbs(i18n.T(lang, k)); !slices.Equal(got, ref) {
				t.Errorf("%s %q formats %v, English formats %v", lang, k, got, ref)
			}
		}
	}
}

// TestCatalogsFormatCleanly formats every entry with arguments of the verbs'
// types: no %!(…) error may appear in any language.
func TestCatalogsFormatCleanly(t *testing.T) {
	for _, lang := range i18n.Supported() {
		for _, k := range i18n.Keys(lang) {
			vs := i18n.Verbs(i18n.T(i18n.English, k))
			if len(vs) == 0 {
				if s := i18n.T(lang, k); strings.Contains(s, "%!") {
					t.Errorf("%s %q: %s", lang, k, s)
				}
				continue
			}
			n := 0
			for _, v := range vs {
				n = max(n, v.Arg)
			}
			args := make([]any, n)
			for i := range args {
				args[i] = "x"
			}
			for _, v := range vs {
				switch v.Verb {
				case 'd':
					args[v.Arg-1] = 7
				case 'v':
					args[v.Arg-1] = fmt.Errorf("boom")
				}
			}
			if s := i18n.T(lang, k, args...); strings.Contains(s, "%!") {
				t.Errorf("%s %q: %s", lang, k, s)
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "en", true}, {"en", "en", true}, {"en-US", "en", true}, {"en_GB.UTF-8", "en", true}, {"C", "en", true},
		{"zh", "zh-CN", true}, {"zh-CN", "zh-CN", true}, {"zh_CN.UTF-8", "zh-CN", true}, {"ZH-cn", "zh-CN", true},
		{"zh-Hans", "zh-CN", true}, {"zh-Hans-CN", "zh-CN", true},
		{"zh-TW", "en", false}, {"fr", "en", false}, {"klingon", "en", false},
	} {
		got, ok := i18n.Normalize(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTFallbacks(t *testing.T) {
	if got := i18n.T("zh-CN", "doctor.verdict.ok"); got != "正常" {
		t.Errorf("zh-CN ok = %q", got)
	}
	if got := i18n.T("fr", "doctor.verdict.ok"); got != "OK" {
		t.Errorf("unsupported language: %q, want the English text", got)
	}
	if got := i18n.T("en", "no.such.key", 1, "a"); got != "no.such.key 1 a" {
		t.Errorf("missing key: %q", got)
	}
	if got := i18n.T("zh-CN", "job.log.partial_removed", "/t/.partial-x", 3); got != "已删除任务 3 的未完成备份包 /t/.partial-x" {
		t.Errorf("reordered arguments: %q", got)
	}
}

func TestVerbs(t *testing.T) {
	// After an explicit index n the next implicit argument is n+1, as in fmt.
	got := i18n.Verbs("%[3]d of %[1]s, 100%% %-8s %.2f")
	want := []i18n.Verb{{1, 's'}, {2, 's'}, {3, 'd'}, {3, 'f'}}
	if !slices.Equal(got, want) {
		t.Errorf("Verbs = %v, want %v", got, want)
	}
}

func FuzzVerbs(f *testing.F) {
	for _, s := range []string{"%s", "%[2]d %[1]s", "100%%", "%-8.3f", "%[", "%[x]d", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range i18n.Verbs(s) {
			if v.Arg < 1 {
				t.Fatalf("Verbs(%q): argument %d", s, v.Arg)
			}
		}
	})
}
