package pack

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/internal/textutil"
)

// Sum is one line of SHA256SUMS.
type Sum struct {
	SHA256 string
	Path   string
}

// FormatSums renders SHA256SUMS in the format `sha256sum -c` reads:
// "<hex>  <path>\n", sorted by path.
func FormatSums(sums []Sum) []byte {
	s := slices.Clone(sums)
	slices.SortFunc(s, func(a, b Sum) int { return strings.Compare(a.Path, b.Path) })
	var buf bytes.Buffer
	for _, x := range s {
		fmt.Fprintf(&buf, "%s  %s\n", x.SHA256, x.Path)
	}
	return buf.Bytes()
}

// ParseSums reads SHA256SUMS as written by FormatSums (and by sha256sum,
// text or binary mode marker).
func ParseSums(r io.Reader) ([]Sum, error) {
	var out []Sum
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if t == "" {
			continue
		}
		if len(t) < 67 || (t[64:66] != "  " && t[64:66] != " *") || !validSHA256(t[:64]) {
			return nil, fmt.Errorf("%w: SHA256SUMS line %d is not \"<sha256>  <path>\": %q", ErrManifest, line, textutil.Truncate(t, 100))
		}
		p := t[66:]
		if !validPackPath(p) {
			return nil, fmt.Errorf("%w: SHA256SUMS line %d names %q, not a path inside the pack", ErrManifest, line, p)
		}
		out = append(out, Sum{SHA256: t[:64], Path: p})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: SHA256SUMS: %v", ErrManifest, err)
	}
	return out, nil
}
