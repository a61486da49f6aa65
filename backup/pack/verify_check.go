package pack

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/internal/i18n"
)

// Codes of Verify's checks (check.Check.Code): stable, the same in every
// language.
const (
	CodeOK              = "ok"
	CodeMissing         = "missing"          // the file (or the pack directory) is not there
	CodeNotRegular      = "not_regular"      // a link, directory or device where a file belongs
	CodeSizeMismatch    = "size_mismatch"    // the size differs from the manifest
	CodeSHA256Mismatch  = "sha256_mismatch"  // the content differs from the manifest's checksum
	CodeStructure       = "structure"        // a damaged tar, image archive or SQLite snapshot
	CodeImagesMissing   = "images_missing"   // images.tar lacks images or tags of the manifest
	CodeReadError       = "read_error"       // the file could not be read
	CodeSumsMismatch    = "sums_mismatch"    // SHA256SUMS disagrees with the manifest
	CodeSumsInvalid     = "sums_invalid"     // SHA256SUMS is malformed
	CodeManifestInvalid = "manifest_invalid" // manifest.json does not parse or validate
)

// fileCheck starts the check of one file of the manifest.
func fileCheck(f FileEntry, m *Manifest) check.Check {
	return check.Check{Name: checkName(f, m), Path: f.Path, Kind: string(f.Kind)}
}

// checkName is the stable name of a file's check: "sqlite", "images",
// "volume:<name>", "compose:<file>", "dump:<service>", "bind:<service>/<name>".
func checkName(f FileEntry, m *Manifest) string {
	f.Path = m.PlainPath(f.Path) // a sealed file is named as its plaintext
	switch f.Kind {
	case FileVolume:
		for _, v := range m.Volumes {
			if v.File == f.Path {
				return "volume:" + v.Name
			}
		}
		return "volume:" + strings.TrimSuffix(filepath.Base(f.Path), ".tar")
	case FileCompose:
		return "compose:" + strings.TrimPrefix(f.Path, ComposeDir+"/")
	case FileDump:
		return "dump:" + dumpService(f, m)
	case FileBind:
		return "bind:" + strings.TrimSuffix(strings.TrimPrefix(f.Path, BindsDir+"/"), ".tar")
	case FileImageConfig, FileImageLayer:
		return string(f.Kind) + ":" + f.SHA256[:min(12, len(f.SHA256))]
	}
	return string(f.Kind)
}

// pass marks c passed; detail says what was checked.
func pass(c *check.Check, detail string) {
	c.Status, c.Code, c.Detail = check.OK, CodeOK, detail
}

// fail marks c failed with code; detail is the underlying error.
func fail(c *check.Check, code, detail string) {
	c.Status, c.Code, c.Detail = check.Fail, code, detail
}

// differ marks c failed with code because a value differs.
func differ(c *check.Check, code, expected, actual, detail string) {
	fail(c, code, detail)
	c.Expected, c.Actual = expected, actual
}

// summarize writes each check's Summary in p's language.
func summarize(p i18n.Printer, res *VerifyResult) {
	for i := range res.Checks {
		res.Checks[i].Summary = summary(p, res.Checks[i], res)
	}
}

func summary(p i18n.Printer, c check.Check, res *VerifyResult) string {
	if c.Status != check.OK {
		return p.T(kindKey("verify."+c.Code, c.Kind))
	}
	switch {
	case c.Kind == string(FileManifest) && res.Manifest != nil:
		m := res.Manifest
		return p.T("verify.ok.manifest", m.FormatVersion, m.Project, len(m.Files))
	case c.Kind == string(FileSums):
		return p.T("verify.ok.sums")
	case res.Structural:
		return p.T("verify.ok.structural")
	}
	return p.T(kindKey("verify.ok", c.Kind))
}

// kindKey is the catalog key prefix.kind when there is one, else prefix.
func kindKey(prefix, kind string) string {
	if k := prefix + "." + kind; i18n.Has(i18n.English, k) {
		return k
	}
	return prefix
}

// FormatCheck renders a check for messages and logs (English): "ok" for a
// passing one, else "volumes/x.tar: expected sha256 …, actual sha256 …;
// detail".
func FormatCheck(c check.Check) string {
	what := c.Path
	if what == "" {
		what = c.Name
	}
	if c.OK() {
		return what + ": ok"
	}
	s := what + ":"
	if c.Expected != "" || c.Actual != "" {
		s += fmt.Sprintf(" expected %s, actual %s", c.Expected, c.Actual)
		if c.Detail != "" {
			s += ";"
		}
	}
	if c.Detail != "" {
		s += " " + c.Detail
	}
	return s
}

// InvalidManifest is the verification of a listed pack whose manifest
// could not be read (Info.Status StatusInvalid): its manifest check failed
// with the listing's problem, summarized in lang.
func InvalidManifest(p Info, lang string) *VerifyResult {
	c := check.Check{Name: "manifest", Path: ManifestFile, Kind: string(FileManifest)}
	fail(&c, CodeManifestInvalid, p.Problem)
	vr := &VerifyResult{Pack: p.Path, Checks: []check.Check{c}}
	summarize(i18n.For(lang), vr)
	return vr
}
