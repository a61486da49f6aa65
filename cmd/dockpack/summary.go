package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/i18n"
)

func humanBytes(n int64) string { return units.BytesSize(float64(n)) }

// printPackSummary prints what a pack holds, in English (the summary after
// `dockpack backup`; show uses printPack in the selected language).
func printPackSummary(w io.Writer, packDir string, m *pack.Manifest, hash string) {
	printPack(w, i18n.For(i18n.English), packDir, m, hash)
}

// printPack prints what a pack holds, in p's language.
func printPack(w io.Writer, p i18n.Printer, packDir string, m *pack.Manifest, hash string) {
	fmt.Fprintln(w, p.T("show.pack", packDir))
	fmt.Fprintln(w, p.T("show.project", m.Project))
	fmt.Fprintln(w, p.T("show.created", m.CreatedAt.Format("2006-01-02 15:04:05 MST")))
	fmt.Fprintln(w, p.T("show.engine", m.Engine.Version, m.Engine.APIVersion, m.Engine.ImageStore))
	fmt.Fprintln(w, p.T("show.hash", hash))
	fmt.Fprintln(w, p.T("show.size", humanBytes(m.PackSize())))
	if m.Encryption != nil { // a sealed pack: to whom (public keys)
		fmt.Fprintln(w, p.T("seal.show.encryption", strings.Join(m.Encryption.Recipients, ", ")))
	}
	fmt.Fprintln(w)
	rows := [][]string{{p.T("show.col.file"), p.T("show.col.kind"), p.T("show.col.size"), p.T("show.col.sha256")}}
	for _, f := range m.Files {
		rows = append(rows, []string{f.Path, string(f.Kind), humanBytes(f.Size), f.SHA256[:16] + "…"})
	}
	writeTable(w, rows, -1)
	if len(m.Images) > 0 {
		fmt.Fprintln(w)
		rows = [][]string{{p.T("show.col.image"), p.T("show.col.digest"), p.T("show.col.size")}}
		for _, im := range m.Images {
			name := strings.Join(im.RepoTags, ", ")
			if name == "" {
				name = p.T("show.untagged", im.ID)
			}
			rows = append(rows, []string{name, shortDigest(im.ConfigDigest), humanBytes(im.Size)})
		}
		writeTable(w, rows, -1)
	}
	if len(m.Volumes) > 0 {
		fmt.Fprintln(w)
		rows = [][]string{{p.T("show.col.volume"), p.T("show.col.driver"), p.T("show.col.content"), p.T("show.col.file")}}
		for _, v := range m.Volumes {
			name := v.Name
			if v.External {
				name = p.T("show.external", v.Name)
			}
			rows = append(rows, []string{name, v.Driver, humanBytes(v.Size), v.File})
		}
		writeTable(w, rows, -1)
	}
	if s := m.SQLite; s != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, p.T("show.sqlite", s.Source, s.File, s.SQLiteVersion, s.JournalMode, s.PageCount, s.Check))
	}
	printConsistency(w, p, m.Consistency) // show_consistency.go
	printSkipped(w, p, m.Skipped)
}

// printSkipped lists what the pack deliberately leaves out: the reason as
// the backup recorded it (English), or in p's language when the catalog
// knows the kind.
func printSkipped(w io.Writer, p i18n.Printer, skipped []pack.SkipEntry) {
	if len(skipped) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, p.T("show.skipped"))
	rows := [][]string{}
	for _, s := range skipped {
		where := s.Source
		if s.Destination != "" {
			where += " → " + s.Container + ":" + s.Destination
		}
		kind, reason := s.Kind, s.Reason
		if p.Lang != i18n.English {
			kind, reason = tOr(p, "plan.skipkind."+s.Kind, s.Kind), skipReason(p, s)
		}
		rows = append(rows, []string{"  " + kind, where, reason})
	}
	writeTable(w, rows, -1)
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}
