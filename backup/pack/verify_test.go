package pack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
)

// rsFailed returns the failed checks keyed by path (or name).
func rsFailed(r *pack.VerifyResult) map[string]check.Check {
	out := map[string]check.Check{}
	for _, c := range r.Failed() {
		k := c.Path
		if k == "" {
			k = c.Name
		}
		out[k] = c
	}
	return out
}

func TestVerifyGoodPack(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	var last progress.Report
	var backwards bool
	res, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{StagingDir: t.TempDir(), ProgressInterval: time.Nanosecond,
		Progress: func(pr progress.Report) {
			if pr.Percent < last.Percent {
				backwards = true
			}
			last = pr
		}})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.OK || res.PackageHash != p.Hash || res.Manifest.Project != "demo" || res.Structural {
		t.Fatalf("result %+v", res)
	}
	if res.Bytes < p.Manifest.PackSize() {
		t.Errorf("read %d bytes, the pack holds %d", res.Bytes, p.Manifest.PackSize())
	}
	names := map[string]bool{}
	for _, c := range res.Checks {
		names[c.Name] = c.OK()
	}
	for _, want := range []string{"manifest", "sha256sums", "sqlite", "volume:demo_data", "volume:shared", "images", "compose:docker-compose.yml"} {
		if ok, seen := names[want]; !seen || !ok {
			t.Errorf("check %s: seen %v ok %v (all: %+v)", want, seen, ok, res.Checks)
		}
	}
	if backwards || last.Percent != 100 || last.Step != progress.StepVerify {
		t.Errorf("progress backwards=%v last=%+v", backwards, last)
	}
	// Staging is cleaned.
	sres, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{Structural: true})
	if err != nil || !sres.OK || !sres.Structural {
		t.Fatalf("structural: %+v %v", sres, err)
	}
}

func TestVerifyStagingIsLocalAndRemoved(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	staging := t.TempDir()
	if _, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{StagingDir: staging}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(staging); len(ents) != 0 {
		t.Fatalf("staging not cleaned: %v", ents)
	}
	if ents, _ := os.ReadDir(p.Dir); len(ents) != 6 {
		t.Fatalf("verify wrote into the pack: %v", ents)
	}
}

func TestVerifyDetectsDamage(t *testing.T) {
	cases := []struct {
		name       string
		damage     func(t *testing.T, p *backuptest.Pack)
		file       string // the failing check's path
		expected   string // substring of Expected
		actual     string // substring of Actual
		detail     string // substring of Detail
		structural bool   // the structural check sees it too
	}{
		{name: "byte flipped in a volume tar's data", file: "volumes/demo_data.tar", expected: "sha256 ", actual: "sha256 ",
			damage: func(t *testing.T, p *backuptest.Pack) { backuptest.MustFlip(t, p.Path("volumes/demo_data.tar"), 3000) }},
		{name: "volume tar truncated", file: "volumes/demo_data.tar", expected: "size ", actual: "size ", structural: true,
			damage: func(t *testing.T, p *backuptest.Pack) {
				os.Truncate(p.Path("volumes/demo_data.tar"), int64(len(p.Files["volumes/demo_data.tar"]))-1024)
			}},
		{name: "volume tar missing", file: "volumes/shared.tar", expected: "present", actual: "missing", structural: true,
			damage: func(t *testing.T, p *backuptest.Pack) { os.Remove(p.Path("volumes/shared.tar")) }},
		{name: "tar header damaged, manifest rewritten to match", file: "volumes/demo_data.tar", detail: "invalid tar header", structural: true,
			damage: func(t *testing.T, p *backuptest.Pack) {
				b := p.Files["volumes/demo_data.tar"]
				b[512+100] ^= 0x01 // the second header's mode field
				os.WriteFile(p.Path("volumes/demo_data.tar"), b, 0o644)
				backuptest.Rewrite(t, p)
			}},
		{name: "images.tar lacks the manifest's image", file: "images.tar", detail: "not in images.tar",
			damage: func(t *testing.T, p *backuptest.Pack) {
				other, _ := backuptest.MustImageArchive(t, "other/app:2")
				p.Files["images.tar"] = other
				os.WriteFile(p.Path("images.tar"), other, 0o644)
				backuptest.Rewrite(t, p)
			}},
		{name: "sqlite snapshot corrupt, manifest rewritten to match", file: "auth.db", detail: "auth.db",
			damage: func(t *testing.T, p *backuptest.Pack) {
				b := p.Files["auth.db"]
				for i := 100; i < len(b); i++ {
					b[i] = 0xee
				}
				os.WriteFile(p.Path("auth.db"), b, 0o644)
				backuptest.Rewrite(t, p)
			}},
		{name: "manifest edited", file: pack.SumsFile, expected: "sha256 ", actual: "sha256 ", structural: true,
			damage: func(t *testing.T, p *backuptest.Pack) {
				b, _ := os.ReadFile(p.Path(pack.ManifestFile))
				os.WriteFile(p.Path(pack.ManifestFile), bytes.Replace(b, []byte(`"dockpack"`), []byte(`"dockpak"`), 1), 0o644)
			}},
		{name: "SHA256SUMS missing", file: pack.SumsFile, expected: "present", actual: "missing", structural: true,
			damage: func(t *testing.T, p *backuptest.Pack) { os.Remove(p.Path(pack.SumsFile)) }},
		{name: "manifest not JSON", file: pack.ManifestFile, detail: "not valid JSON", structural: true,
			damage: func(t *testing.T, p *backuptest.Pack) { os.WriteFile(p.Path(pack.ManifestFile), []byte("{"), 0o644) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
			tc.damage(t, p)
			for _, structural := range []bool{false, true} {
				res, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{Structural: structural, StagingDir: t.TempDir()})
				if structural && !tc.structural {
					continue
				}
				var ve *pack.VerifyError
				if !errors.Is(err, pack.ErrVerify) || !errors.As(err, &ve) || res == nil || res.OK {
					t.Fatalf("structural=%v: err = %v, want a VerifyError", structural, err)
				}
				c, ok := rsFailed(res)[tc.file]
				if !ok {
					t.Fatalf("structural=%v: %s not among the failed checks: %v", structural, tc.file, err)
				}
				if !strings.Contains(c.Expected, tc.expected) || !strings.Contains(c.Actual, tc.actual) || !strings.Contains(c.Detail, tc.detail) {
					t.Errorf("structural=%v: check %+v, want expected~%q actual~%q detail~%q", structural, c, tc.expected, tc.actual, tc.detail)
				}
				if !strings.Contains(err.Error(), tc.file) || (c.Expected != "" && !strings.Contains(err.Error(), c.Expected)) {
					t.Errorf("the error does not name %s with expected/actual: %v", tc.file, err)
				}
			}
		})
	}
}

func TestVerifyStructuralSkipsData(t *testing.T) {
	// A flipped data byte keeps sizes and headers intact: only the full check sees it.
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	backuptest.MustFlip(t, p.Path("volumes/demo_data.tar"), 3000)
	if _, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{Structural: true}); err != nil {
		t.Fatalf("structural check read the data: %v", err)
	}
	if _, err := pack.Verify(context.Background(), p.Dir, pack.VerifyOptions{}); !errors.Is(err, pack.ErrVerify) {
		t.Fatalf("full check missed the flip: %v", err)
	}
}

func TestVerifyMissingPack(t *testing.T) {
	res, err := pack.Verify(context.Background(), filepath.Join(t.TempDir(), "nope"), pack.VerifyOptions{})
	if !errors.Is(err, pack.ErrVerify) || res.Failed()[0].Kind != string(pack.FileDir) {
		t.Fatalf("err %v, result %+v", err, res)
	}
}

func TestVerifyCanceled(t *testing.T) {
	p := backuptest.MustPack(t, t.TempDir(), backuptest.Created)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pack.Verify(ctx, p.Dir, pack.VerifyOptions{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, pack.ErrVerify) {
		t.Fatalf("err = %v, want canceled (no verdict)", err)
	}
}

func TestVerifyOptionsValidate(t *testing.T) {
	if _, err := pack.Verify(context.Background(), t.TempDir(), pack.VerifyOptions{SQLiteCheck: 7}); !errors.Is(err, backup.ErrInvalidSpec) {
		t.Fatalf("err = %v", err)
	}
}

// Verify reads every file of a pack once and names what fails.
func ExampleVerify() {
	res, err := pack.Verify(context.Background(), "/mnt/backup/migration_pack_20260101_020000_000", pack.VerifyOptions{})
	var ve *pack.VerifyError
	switch {
	case errors.As(err, &ve):
		for _, c := range ve.Failed {
			fmt.Println("FAILED", pack.FormatCheck(c))
		}
	case err != nil:
		fmt.Println("could not verify:", err)
	default:
		fmt.Println("ok", res.PackageHash)
	}
	// Output:
	// FAILED pack: expected a pack directory, actual missing; stat /mnt/backup/migration_pack_20260101_020000_000: no such file or directory; check the path (and that the share is mounted)
}
