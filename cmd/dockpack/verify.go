package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/spf13/cobra"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		jsonOut    bool
		structural bool
		subset     percentValue
		staging    string
		s3f        s3Flags
		af         ageFlags
	)
	cmd := &cobra.Command{
		Use:   "verify PACK [--json]",
		Short: "Check a pack: manifest, every file's size and sha256, archive structure, the SQLite snapshot",
		Long: `Check a pack completely: the manifest's schema, SHA256SUMS against the manifest, and every file's
size and sha256 — each file read once, its structure checked in the same pass: images.tar with the
validator the backup uses, each volume tar read to its end, the SQLite snapshot copied to local
staging and checked there (never opened on the share).

--structural only checks what is cheap on a big pack (sizes, tar headers, manifest, SHA256SUMS).

A sealed pack (docs/encryption.md): --structural needs no identity (every sealed file's ciphertext
sha256 and age header); the full check opens every file and needs --age-identity FILE (without
one it is refused, exit 3).

Exit codes: 0 the pack is good, 4 it is not (each failing file is named with the expected and
actual values), 1 it could not be checked, 2 usage, 130 canceled.`,
		Args: requireArgs(1, "the pack directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var bar *progressReporter
			if !jsonOut && stderrIsTTY() {
				bar = newProgressReporter(out, false)
			}
			keys, err := af.readKeys(cmd.Context()) // a sealed pack's identities (seal_flags.go)
			if err != nil {
				return err
			}
			o := pack.VerifyOptions{StagingDir: staging, Structural: structural || subset > 0, ReadDataSubset: float64(subset), Lang: g.lang, Logger: g.logger, Keys: keys}
			if bar != nil {
				o.Progress = bar.report
			}
			p := args[0]
			if storage.IsS3URL(p) { // object storage: verified on arrival in local staging, then checked there
				local, cleanup, err := fetchRemote(cmd.Context(), g, p, staging, s3f.options())
				if err != nil {
					return fetchErr(err)
				}
				defer cleanup()
				p = local
			}
			res, err := pack.Verify(cmd.Context(), p, o)
			if res != nil && p != args[0] {
				res.Pack = args[0]
			}
			if bar != nil {
				bar.finish()
			}
			if err != nil && !errors.Is(err, pack.ErrVerify) {
				return err
			}
			if jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if eerr := enc.Encode(verifyJSON(res)); eerr != nil {
					return eerr
				}
			} else {
				printVerify(out, i18n.For(g.lang), res)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&jsonOut, "json", false, "print the result (every check) as JSON")
	f.BoolVar(&structural, "structural", false, "only the cheap checks: manifest, SHA256SUMS, sizes, tar headers (no hashing)")
	f.Var(&subset, "read-data-subset", "a store pack: the structural checks plus a random N% of the store's bundles read whole (e.g. 10%)")
	f.StringVar(&staging, "staging-dir", envOr("DOCKPACK_STAGING_DIR", ""), "local scratch directory for the SQLite check and a pack fetched from s3:// (default the system temp dir) ($DOCKPACK_STAGING_DIR)")
	s3f.bind(f)
	af.bindRead(f)
	return cmd
}

// verifyJSON is the JSON of a verification.
func verifyJSON(r *pack.VerifyResult) map[string]any {
	failed := r.Failed()
	if failed == nil {
		failed = []check.Check{}
	}
	return map[string]any{
		"pack": r.Pack, "ok": r.OK, "package_hash": r.PackageHash, "structural": r.Structural,
		"bytes": r.Bytes, "duration_ms": r.Duration.Milliseconds(), "checks": r.Checks, "failed": failed,
	}
}

// printVerify writes a verification for people: one row per check with its
// summary (in the result's language), and under a failed check its code,
// expected and actual values and the underlying detail.
func printVerify(w io.Writer, p i18n.Printer, r *pack.VerifyResult) {
	rows := [][]string{{p.T("verify.col.status"), p.T("verify.col.check"), p.T("verify.col.file"), p.T("verify.col.summary")}}
	for _, c := range r.Checks {
		if c.OK() {
			rows = append(rows, []string{p.T("verify.status.ok"), c.Name, c.Path, c.Summary})
			continue
		}
		rows = append(rows, []string{p.T("verify.status.failed"), c.Name, c.Path, c.Summary})
		what := c.Code
		if c.Expected != "" || c.Actual != "" {
			what += ": " + p.T("verify.expected_actual", c.Expected, c.Actual)
		}
		rows = append(rows, []string{"", "", "", what})
		if c.Detail != "" {
			rows = append(rows, []string{"", "", "", truncateRunes(c.Detail, 160)})
		}
	}
	writeTable(w, rows, -1)
	kind := p.T("verify.kind.full")
	if r.Structural {
		kind = p.T("verify.kind.structural")
	}
	verdict := p.T("verify.verdict.good")
	if !r.OK {
		verdict = p.T("verify.verdict.failed", len(r.Failed()), len(r.Checks))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, p.T("verify.footer", r.Pack, kind, verdict, humanBytes(r.Bytes), r.Duration.Round(time.Millisecond)))
	if r.PackageHash != "" {
		fmt.Fprint(w, p.T("verify.footer.hash", r.PackageHash))
	}
	fmt.Fprintln(w)
}
