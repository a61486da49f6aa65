package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/spf13/cobra"
)

func init() { register(newPacksCmd) }

func newPacksCmd(g *globals) *cobra.Command {
	var (
		target  string
		jsonOut bool
		s3f     s3Flags
	)
	cmd := &cobra.Command{
		Use:   "packs [--target DIR] [--json]",
		Short: "List the packs in a target directory: complete, partial (with age) or invalid",
		Long: `List every pack in the target directory, newest first, with its status — complete, partial (a
backup in progress or one that died: its age says which) or invalid (its manifest is unreadable) —
size (a store pack: its logical size), the bytes it added to the target (a store pack: only the data
the store lacked), its format, creation time, project and components. Only manifests are read; use
verify to check data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return usageError{fmt.Errorf("no target directory given (--target or $DOCKPACK_TARGET)")}
			}
			var packs []pack.Info
			var err error
			if storage.IsS3URL(target) { // object storage: through its backend
				b, oerr := openRemote(cmd.Context(), target, s3f.options())
				if oerr != nil {
					return oerr
				}
				defer b.Close()
				packs, err = transfer.List(cmd.Context(), b)
			} else {
				packs, err = pack.List(cmd.Context(), target)
			}
			if err != nil {
				return err
			}
			if packs == nil {
				packs = []pack.Info{}
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"target": target, "packs": packs})
			}
			printPacks(out, i18n.For(g.lang), packs)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", envOr("DOCKPACK_TARGET", ""), "directory holding the packs, or s3://bucket/prefix ($DOCKPACK_TARGET)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the list as JSON")
	s3f.add(cmd)
	return cmd
}

func printPacks(w io.Writer, p i18n.Printer, packs []pack.Info) {
	if len(packs) == 0 {
		fmt.Fprintln(w, p.T("packs.none"))
		return
	}
	rows := [][]string{{p.T("packs.col.name"), p.T("packs.col.status"), p.T("packs.col.created"), p.T("packs.col.age"),
		p.T("packs.col.size"), p.T("packs.col.added"), p.T("packs.col.format"), p.T("packs.col.project"), p.T("packs.col.components")}}
	for _, pi := range packs {
		comps := make([]string, len(pi.Contents))
		for i, c := range pi.Contents {
			comps[i] = string(c)
		}
		status := tOr(p, "packs.status."+string(pi.Status), string(pi.Status))
		if pi.Status == pack.StatusInvalid && pi.Problem != "" {
			status += ": " + truncateRunes(pi.Problem, 60)
		}
		created := "-"
		if !pi.CreatedAt.IsZero() {
			created = pi.CreatedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		added, format := "-", "-"
		switch pi.Format {
		case pack.FormatVersion:
			added, format = humanBytes(pi.Added), "classic"
		case pack.FormatStore:
			added, format = humanBytes(pi.Added), "store"
		}
		rows = append(rows, []string{pi.Name, status, created, humanAge(pi.Age), humanBytes(pi.Size), added, format, orDash(pi.Project), orDash(strings.Join(comps, ","))})
	}
	writeTable(w, rows, -1)
}

func humanAge(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
