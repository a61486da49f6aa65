package pack_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/i18n"
)

// hasHan reports whether s holds a Chinese character.
func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff })
}

func TestVerifySpeaksTheLanguage(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	var msgs []string
	res, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{StagingDir: t.TempDir(), Lang: i18n.Chinese,
		ProgressInterval: time.Nanosecond, Progress: func(r progress.Report) { msgs = append(msgs, r.Message) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Checks {
		if c.Status != check.OK || c.Code != pack.CodeOK || !hasHan(c.Summary) || c.Detail == "" || hasHan(c.Detail) {
			t.Errorf("check %+v: want ok, a Chinese summary and an English detail", c)
		}
	}
	if len(msgs) == 0 || !hasHan(msgs[0]) || !hasHan(msgs[len(msgs)-1]) {
		t.Errorf("progress messages %q", msgs)
	}
	en, _ := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{Structural: true})
	for _, c := range en.Checks {
		if c.Summary == "" || hasHan(c.Summary) || strings.HasPrefix(c.Summary, "verify.") {
			t.Errorf("English summary of %s: %q", c.Name, c.Summary)
		}
	}
	if _, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{Lang: "fr"}); err == nil {
		t.Error("an unsupported language was accepted")
	}
}

func TestVerifyCodes(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, p *backuptest.Pack)
		path   string
		code   string
	}{
		{"flipped", func(t *testing.T, p *backuptest.Pack) { backuptest.MustFlip(t, p.Path("volumes/demo_data.tar"), 3000) },
			"volumes/demo_data.tar", pack.CodeSHA256Mismatch},
		{"truncated", func(t *testing.T, p *backuptest.Pack) { os.Truncate(p.Path("volumes/demo_data.tar"), 1024) },
			"volumes/demo_data.tar", pack.CodeSizeMismatch},
		{"missing", func(t *testing.T, p *backuptest.Pack) { os.Remove(p.Path("volumes/shared.tar")) },
			"volumes/shared.tar", pack.CodeMissing},
		{"symlink", func(t *testing.T, p *backuptest.Pack) {
			os.Remove(p.Path("volumes/shared.tar"))
			os.Symlink("/etc/passwd", p.Path("volumes/shared.tar"))
		}, "volumes/shared.tar", pack.CodeNotRegular},
		{"images lack the image", func(t *testing.T, p *backuptest.Pack) {
			other, _ := backuptest.MustImageArchive(t, "other/app:2")
			p.Files["images.tar"] = other
			os.WriteFile(p.Path("images.tar"), other, 0o644)
			backuptest.Rewrite(t, p)
		}, "images.tar", pack.CodeImagesMissing},
		{"sqlite damaged", func(t *testing.T, p *backuptest.Pack) {
			b := p.Files["auth.db"]
			for i := 100; i < len(b); i++ {
				b[i] = 0xee
			}
			os.WriteFile(p.Path("auth.db"), b, 0o644)
			backuptest.Rewrite(t, p)
		}, "auth.db", pack.CodeStructure},
		{"sums edited", func(t *testing.T, p *backuptest.Pack) {
			os.WriteFile(p.Path(pack.SumsFile), []byte("not a sums file\n"), 0o644)
		}, pack.SumsFile, pack.CodeSumsInvalid},
		{"sums missing a line", func(t *testing.T, p *backuptest.Pack) {
			b, _ := os.ReadFile(p.Path(pack.SumsFile))
			os.WriteFile(p.Path(pack.SumsFile), b[:strings.IndexByte(string(b), '\n')+1], 0o644)
		}, pack.SumsFile, pack.CodeSumsMismatch},
		{"manifest missing", func(t *testing.T, p *backuptest.Pack) { os.Remove(p.Path(pack.ManifestFile)) },
			pack.ManifestFile, pack.CodeMissing},
		{"manifest invalid", func(t *testing.T, p *backuptest.Pack) { os.WriteFile(p.Path(pack.ManifestFile), []byte("{}"), 0o644) },
			pack.ManifestFile, pack.CodeManifestInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
			tc.damage(t, p)
			sums := map[string]string{}
			for _, lang := range i18n.Supported() {
				res, _ := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{StagingDir: t.TempDir(), Lang: lang})
				c, ok := rsFailed(res)[tc.path]
				if !ok || c.Status != check.Fail || c.Code != tc.code || c.Summary == "" || strings.HasPrefix(c.Summary, "verify.") {
					t.Fatalf("%s: %s: %+v, want code %s (failed: %+v)", lang, tc.path, c, tc.code, res.Failed())
				}
				sums[lang] = c.Summary
			}
			if sums[i18n.English] == sums[i18n.Chinese] || !hasHan(sums[i18n.Chinese]) {
				t.Errorf("summaries %q", sums)
			}
		})
	}
}
