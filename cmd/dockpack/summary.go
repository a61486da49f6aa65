package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup/pack"
)

func humanBytes(n int64) string { return units.BytesSize(float64(n)) }

// printPackSummary prints what a pack holds.
func printPackSummary(w io.Writer, packDir string, m *pack.Manifest, hash string) {
	fmt.Fprintf(w, "pack          %s\n", packDir)
	fmt.Fprintf(w, "project       %s\n", m.Project)
	fmt.Fprintf(w, "created       %s\n", m.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(w, "engine        %s (API %s, %s image store)\n", m.Engine.Version, m.Engine.APIVersion, m.Engine.ImageStore)
	fmt.Fprintf(w, "package hash  %s\n", hash)
	fmt.Fprintf(w, "size          %s\n\n", humanBytes(m.PackSize()))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tKIND\tSIZE\tSHA256")
	for _, f := range m.Files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\n", f.Path, f.Kind, humanBytes(f.Size), f.SHA256[:16])
	}
	tw.Flush()
	if len(m.Images) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE\tCONFIG DIGEST\tSIZE")
		for _, im := range m.Images {
			name := strings.Join(im.RepoTags, ", ")
			if name == "" {
				name = im.ID + " (untagged)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, shortDigest(im.ConfigDigest), humanBytes(im.Size))
		}
		tw.Flush()
	}
	if len(m.Volumes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VOLUME\tDRIVER\tCONTENT\tFILE")
		for _, v := range m.Volumes {
			ext := ""
			if v.External {
				ext = " (external)"
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", v.Name, ext, v.Driver, humanBytes(v.Size), v.File)
		}
		tw.Flush()
	}
	if m.SQLite != nil {
		fmt.Fprintf(w, "\nsqlite        %s → %s (SQLite %s, %s journal, %d pages, check %s)\n",
			m.SQLite.Source, m.SQLite.File, m.SQLite.SQLiteVersion, m.SQLite.JournalMode, m.SQLite.PageCount, m.SQLite.Check)
	}
	if len(m.Skipped) > 0 {
		fmt.Fprintln(w, "\nnot in the pack:")
		for _, s := range m.Skipped {
			where := s.Source
			if s.Destination != "" {
				where += " → " + s.Container + ":" + s.Destination
			}
			fmt.Fprintf(w, "  %-12s %s: %s\n", s.Kind, where, s.Reason)
		}
	}
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}
