package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/spf13/cobra"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		jsonOut    bool
		structural bool
		staging    string
	)
	cmd := &cobra.Command{
		Use:   "verify PACK [--json]",
		Short: "Check a pack: manifest, every file's size and sha256, archive structure, the SQLite snapshot",
		Long: `Check a pack completely: the manifest's schema, SHA256SUMS against the manifest, and every file's
size and sha256 — each file read once, its structure checked in the same pass: images.tar with the
validator the backup uses, each volume tar read to its end, the SQLite snapshot copied to local
staging and checked there (never opened on the share).

--structural only checks what is cheap on a big pack (sizes, tar headers, manifest, SHA256SUMS).

Exit codes: 0 the pack is good, 4 it is not (each failing file is named with the expected and
actual values), 1 it could not be checked, 2 usage, 130 canceled.`,
		Args: requireArgs(1, "the pack directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var bar *progressReporter
			if !jsonOut && stderrIsTTY() {
				bar = newProgressReporter(out, false)
			}
			o := pack.VerifyOptions{StagingDir: staging, Structural: structural, Logger: g.logger}
			if bar != nil {
				o.Progress = bar.report
			}
			res, err := pack.Verify(cmd.Context(), args[0], o)
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
				printVerify(out, res)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&jsonOut, "json", false, "print the result (every check) as JSON")
	f.BoolVar(&structural, "structural", false, "only the cheap checks: manifest, SHA256SUMS, sizes, tar headers (no hashing)")
	f.StringVar(&staging, "staging-dir", envOr("DOCKPACK_STAGING_DIR", ""), "local scratch directory for the SQLite check (default the system temp dir) ($DOCKPACK_STAGING_DIR)")
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

func printVerify(w io.Writer, r *pack.VerifyResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tFILE\tDETAIL")
	for _, c := range r.Checks {
		st := "ok"
		detail := c.Detail
		if !c.OK() {
			st = "FAILED"
			if c.Expected != "" || c.Actual != "" {
				detail = fmt.Sprintf("expected %s, actual %s; %s", c.Expected, c.Actual, c.Detail)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st, c.Name, c.Path, truncateRunes(detail, 160))
	}
	tw.Flush()
	kind := "full"
	if r.Structural {
		kind = "structural"
	}
	verdict := "GOOD"
	if !r.OK {
		verdict = fmt.Sprintf("FAILED (%d of %d checks)", len(r.Failed()), len(r.Checks))
	}
	fmt.Fprintf(w, "\n%s: %s check %s — %s read in %s", r.Pack, kind, verdict, humanBytes(r.Bytes), r.Duration.Round(time.Millisecond))
	if r.PackageHash != "" {
		fmt.Fprintf(w, "; package hash %s", r.PackageHash)
	}
	fmt.Fprintln(w)
}
