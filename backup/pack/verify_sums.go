package pack

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
)

// checkSums compares SHA256SUMS with the manifest: one failing check per
// disagreement, or one passing check.
func checkSums(ctx context.Context, d *Dir, m *Manifest, manifestHash string) []check.Check {
	base := check.Check{Name: "sha256sums", Path: SumsFile, Kind: string(FileSums)}
	f, err := d.Open(ctx, SumsFile)
	if err != nil {
		c := base
		differ(&c, CodeMissing, "present", "missing", fmt.Sprintf("%v; every pack has one (`sha256sum -c SHA256SUMS`)", err))
		return []check.Check{c}
	}
	defer f.Close()
	sums, err := ParseSums(io.LimitReader(f, 16<<20))
	if err != nil {
		c := base
		fail(&c, CodeSumsInvalid, err.Error())
		return []check.Check{c}
	}
	want := map[string]string{ManifestFile: manifestHash}
	for _, fe := range m.Files {
		if fe.Chunks != nil { // a store pack holds the file's chunk list, not the file
			want[fe.Chunks.List] = fe.Chunks.ListSHA256
			continue
		}
		want[fe.Path] = fe.SHA256
	}
	out := compareSums(base, sums, want)
	if len(out) == 0 {
		c := base
		pass(&c, fmt.Sprintf("%d checksums agree with the manifest", len(sums)))
		out = append(out, c)
	}
	return out
}

// compareSums lists the lines of SHA256SUMS that disagree with want (path →
// sha256), and the paths it does not list.
func compareSums(base check.Check, sums []Sum, want map[string]string) []check.Check {
	var out []check.Check
	mismatch := func(expected, actual, format string, a ...any) {
		c := base
		differ(&c, CodeSumsMismatch, expected, actual, fmt.Sprintf(format, a...))
		out = append(out, c)
	}
	seen := map[string]bool{}
	for _, s := range sums {
		if seen[s.Path] {
			mismatch("", "", "lists %s twice", s.Path)
			continue
		}
		seen[s.Path] = true
		w, ok := want[s.Path]
		switch {
		case !ok:
			mismatch("", "", "lists %s, which the manifest does not", s.Path)
		case w != s.SHA256:
			what := "the manifest's checksum"
			if s.Path == ManifestFile {
				what = "the sha256 of manifest.json (the package hash)"
			}
			mismatch("sha256 "+w, "sha256 "+s.SHA256, "the line for %s differs from %s", s.Path, what)
		}
	}
	var missing []string
	for p := range want {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		mismatch("", "", "does not list %s", strings.Join(missing, ", "))
	}
	return out
}
