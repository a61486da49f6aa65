package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/progress"
)

func init() { register(newBackupCmd) }

func newBackupCmd(g *globals) *cobra.Command {
	var sf specFlags
	var af ageFlags
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "backup --project P --target DIR [flags]",
		Short: "Make a migration pack of a compose project on a verified mount",
		Long: `Make a migration pack of a compose project: the SQLite database (--sqlite), the project's
named volumes and its images, written into <target>/migration_pack_<UTC time>/ on a mount that
is verified first (by default a cifs/smb3 share, not the root filesystem).

Progress is a bar on a terminal and JSON lines otherwise (or with --json). SIGINT cancels and
cleans up: no partial pack stays behind and stopped services run again.

--age-recipient / --age-recipients-file seal every file that holds content with age (classic packs;
docs/encryption.md): restore, full verify and export then need --age-identity.

Exit codes: 0 done, 1 failed, 2 usage, 3 refused by a precheck (nothing written), 130 canceled.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			eng, err := g.openEngine(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			spec, err := sf.spec(eng)
			if err != nil {
				return err
			}
			if err := af.applyWrite(ctx, &spec); err != nil { // seal_flags.go: sealed, or refused before writing
				return err
			}
			spec.Logger = g.logger
			spec.Lang = g.lang
			spec.Hooks = testHooks(g.logger) // none in the production binary
			out := cmd.OutOrStdout()
			rep := newProgressReporter(out, jsonOut || !stderrIsTTY())
			res, err := backup.Run(ctx, spec, rep.report)
			rep.finish()
			if err != nil {
				if rep.json {
					rep.event(map[string]any{"event": "failed", "step": backup.FailedStep(err), "error_code": backup.ErrorCode(err), "error": err.Error()})
				}
				return err
			}
			if rep.json {
				done := map[string]any{"event": "done", "pack": res.Pack, "package_hash": res.PackageHash, "bytes": res.Bytes,
					"duration_ms": res.Duration.Milliseconds()}
				if res.Store != nil { // bytes read / new / reused per component
					done["store"] = res.Store
				}
				rep.event(done)
				return nil
			}
			printPackSummary(out, res.Pack, res.Manifest, res.PackageHash)
			return nil
		},
	}
	sf.bind(cmd.Flags())
	af.bindWrite(cmd.Flags())
	cmd.Flags().BoolVar(&jsonOut, "json", false, "progress and result as JSON lines on stdout")
	return cmd
}

// progressReporter shows backup progress as a bar (terminal) or JSON lines.
type progressReporter struct {
	out  io.Writer
	json bool
	enc  *json.Encoder
	bar  *progressbar.ProgressBar
}

func newProgressReporter(out io.Writer, jsonLines bool) *progressReporter {
	return &progressReporter{out: out, json: jsonLines, enc: json.NewEncoder(out)}
}

// reporterFor is the progress reporter of restore and restore --dumps: JSON
// lines with --json, a bar when stderr is a terminal, else none (nil; its
// finish does nothing).
func reporterFor(out io.Writer, jsonOut bool) *progressReporter {
	switch {
	case jsonOut:
		return newProgressReporter(out, true)
	case stderrIsTTY():
		return newProgressReporter(out, false)
	}
	return nil
}

func (p *progressReporter) event(v any) { _ = p.enc.Encode(v) }

func (p *progressReporter) report(pr progress.Report) {
	if p.json {
		p.event(map[string]any{"event": "progress", "step": pr.Step, "item": pr.Item, "percent": pr.Percent,
			"bytes_done": pr.BytesDone, "bytes_total": pr.BytesTotal, "message": pr.Message, "time": pr.Time})
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(100,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	}
	desc := fmt.Sprintf("%-8s %s", pr.Step, pr.Message)
	if pr.BytesTotal > 0 {
		desc = fmt.Sprintf("%-8s %s / %s  %s", pr.Step, humanBytes(pr.BytesDone), humanBytes(pr.BytesTotal), pr.Message)
	}
	p.bar.Describe(truncateRunes(desc, 90))
	_ = p.bar.Set(pr.Percent)
}

func (p *progressReporter) finish() {
	if p != nil && p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
