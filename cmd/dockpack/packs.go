package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/spf13/cobra"
)

func init() { register(newPacksCmd) }

func newPacksCmd(g *globals) *cobra.Command {
	var (
		target  string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "packs [--target DIR] [--json]",
		Short: "List the packs in a target directory: complete, partial (with age) or invalid",
		Long: `List every pack in the target directory, newest first, with its status — complete, partial (a
backup in progress or one that died: its age says which) or invalid (its manifest is unreadable) —
size, creation time, project and components. Only manifests are read; use verify to check data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return usageError{fmt.Errorf("no target directory given (--target or $DOCKPACK_TARGET)")}
			}
			packs, err := pack.List(cmd.Context(), target)
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
			printPacks(out, packs)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", envOr("DOCKPACK_TARGET", ""), "directory holding the packs ($DOCKPACK_TARGET)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the list as JSON")
	return cmd
}

func printPacks(w io.Writer, packs []pack.Info) {
	if len(packs) == 0 {
		fmt.Fprintln(w, "no packs")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tCREATED\tAGE\tSIZE\tPROJECT\tCOMPONENTS")
	for _, p := range packs {
		comps := make([]string, len(p.Contents))
		for i, c := range p.Contents {
			comps[i] = string(c)
		}
		status := string(p.Status)
		if p.Status == pack.StatusInvalid && p.Problem != "" {
			status += ": " + truncateRunes(p.Problem, 60)
		}
		created := "-"
		if !p.CreatedAt.IsZero() {
			created = p.CreatedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, status, created, humanAge(p.Age), humanBytes(p.Size), orDash(p.Project), orDash(strings.Join(comps, ",")))
	}
	tw.Flush()
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
