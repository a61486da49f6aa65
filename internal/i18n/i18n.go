// Package i18n holds dockpack's message catalogs (English and Simplified
// Chinese) and a tiny lookup API:
//
//	i18n.T("zh-CN", "doctor.verdict.ok")        // "正常"
//	i18n.T("en", "plan.total", "1.2GiB")         // a format string with arguments
//
// Only human text is translated. Machine codes — a job's error_code and
// detail, a doctor check's name and code, JSON field names — are the same in
// every language, so scripts never depend on the language.
//
// A catalog entry is a fmt format string. A translation may reorder its
// arguments with explicit indexes (%[2]s); TestCatalogsMatch checks that every
// key exists in every language and that both use the same arguments with the
// same verbs.
package i18n

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Supported languages.
const (
	English = "en"
	Chinese = "zh-CN"
)

// catalogs maps a language to its messages (key → fmt format). Each area
// of dockpack keeps its messages in its own pair of files (<area>_en.go,
// <area>_zh.go), each a package-level map (<area>EN, <area>ZH) that a
// one-line init adds here; English is the reference every language must
// match.
var catalogs = map[string]map[string]string{English: {}, Chinese: {}}

// add registers messages of lang; a key registered twice is a bug.
func add(lang string, m map[string]string) {
	for k, v := range m {
		if _, dup := catalogs[lang][k]; dup {
			panic("i18n: message " + k + " registered twice for " + lang)
		}
		catalogs[lang][k] = v
	}
}

// Supported lists the languages with a catalog, English first.
func Supported() []string { return []string{English, Chinese} }

// Normalize maps a language tag as users write it to a supported language:
// "", "en", "en-US", "en_GB.UTF-8", "C", "POSIX" → "en"; "zh", "zh-CN",
// "zh_CN.UTF-8", "zh-Hans", "zh-SG" → "zh-CN". ok is false for anything else
// (the result is then English).
func Normalize(lang string) (norm string, ok bool) {
	l := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(l, ".@"); i >= 0 { // zh_CN.UTF-8, en_US@euro
		l = l[:i]
	}
	l = strings.ReplaceAll(l, "_", "-")
	switch {
	case l == "", l == "c", l == "posix", l == "en", strings.HasPrefix(l, "en-"):
		return English, true
	case l == "zh", l == "zh-cn", l == "zh-hans", strings.HasPrefix(l, "zh-hans-"), l == "zh-sg":
		return Chinese, true
	}
	return English, false
}

// Valid reports whether lang names a supported language (after Normalize).
func Valid(lang string) bool {
	_, ok := Normalize(lang)
	return ok
}

// T returns the message key in lang, formatted with args. A key missing in
// lang falls back to English; a key missing everywhere returns the key itself
// (followed by the arguments), so a mistake is visible but never fatal.
func T(lang, key string, args ...any) string {
	l, _ := Normalize(lang)
	format, ok := catalogs[l][key]
	if !ok {
		format, ok = catalogs[English][key]
	}
	if !ok {
		if len(args) == 0 {
			return key
		}
		parts := []string{key}
		for _, a := range args {
			parts = append(parts, fmt.Sprint(a))
		}
		return strings.Join(parts, " ")
	}
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Has reports whether lang's catalog has key (without fallback).
func Has(lang, key string) bool {
	l, _ := Normalize(lang)
	_, ok := catalogs[l][key]
	return ok
}

// Keys lists the keys of lang's catalog, sorted.
func Keys(lang string) []string {
	l, _ := Normalize(lang)
	keys := make([]string, 0, len(catalogs[l]))
	for k := range catalogs[l] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Printer translates into one language.
type Printer struct{ Lang string }

// For returns the Printer of lang (normalized).
func For(lang string) Printer {
	l, _ := Normalize(lang)
	return Printer{Lang: l}
}

// T is i18n.T in the printer's language.
func (p Printer) T(key string, args ...any) string { return T(p.Lang, key, args...) }

// Verb is one formatting directive of a catalog entry: the argument it
// formats (1-based) and its verb letter.
type Verb struct {
	Arg  int
	Verb rune
}

// Verbs parses the directives of a format string in argument order, so a
// translation can be compared with the original. %% is not a directive.
func Verbs(format string) []Verb {
	var out []Verb
	next := 1
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		// flags
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		if i < len(format) && format[i] == '%' {
			continue
		}
		if i < len(format) && format[i] == '[' {
			j := strings.IndexByte(format[i:], ']')
			if j > 0 {
				n := 0
				fmt.Sscanf(format[i+1:i+j], "%d", &n)
				if n > 0 {
					next = n
				}
				i += j + 1
			}
		}
		// width and precision
		for i < len(format) && (format[i] >= '0' && format[i] <= '9' || format[i] == '.') {
			i++
		}
		if i < len(format) {
			out = append(out, Verb{Arg: next, Verb: rune(format[i])})
			next++
		}
	}
	slices.SortStableFunc(out, func(a, b Verb) int { return a.Arg - b.Arg })
	return out
}
