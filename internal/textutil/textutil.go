// Package textutil holds small helpers for text shown to people.
package textutil

// Truncate cuts s to at most n bytes (at a rune boundary) and marks the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
