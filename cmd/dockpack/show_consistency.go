package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/i18n"
)

// printConsistency prints the manifest's consistency section: per compose
// service, how each named volume was captured (exported, dumped, excluded
// with its reason), its dump and its hooks as they ran, whether it was
// stopped; then the stop order, the profiles in use and the bind mounts in
// the pack. Nothing when the pack has no such section.
func printConsistency(w io.Writer, p i18n.Printer, c *pack.Consistency) {
	if c == nil || len(c.Services)+len(c.Binds) == 0 {
		return
	}
	fmt.Fprintln(w)
	if c.ModelNote != "" {
		fmt.Fprintln(w, p.T("show.cs.nomodel", c.ModelNote))
	}
	rows := [][]string{{p.T("show.col.service"), p.T("show.col.stopped"), p.T("show.col.captured"), p.T("show.col.hooks")}}
	for _, s := range c.Services {
		var capt []string
		for _, v := range s.Volumes {
			switch v.Capture {
			case pack.CaptureVolume:
				capt = append(capt, p.T("show.cs.volume", v.Name, v.File))
			case pack.CaptureDump:
				capt = append(capt, p.T("show.cs.by_dump", v.Name, v.File))
			default:
				capt = append(capt, p.T("show.cs.excluded", v.Name, v.Reason))
			}
		}
		if d := s.Dump; d != nil {
			capt = append(capt, p.T("show.cs.dump", d.File, humanBytes(d.Size), d.DurationMS))
		}
		var hooks []string
		for _, h := range s.Hooks {
			hooks = append(hooks, p.T("show.cs.hook", h.Phase, tOr(p, "show.cs.hook."+h.Status, h.Status), h.ExitCode, h.DurationMS))
		}
		stopped := p.T("show.cs.no")
		if s.Stopped {
			stopped = p.T("show.cs.yes")
		}
		n := max(len(capt), len(hooks), 1)
		for i := range n {
			row := []string{"", "", at(capt, i, "-"), at(hooks, i, "-")}
			if i == 0 {
				row[0], row[1] = s.Name, stopped
				if s.Preset != "" {
					row[0] = p.T("show.cs.preset", s.Name, s.Preset)
				}
			} else {
				row[2], row[3] = at(capt, i, ""), at(hooks, i, "")
			}
			rows = append(rows, row)
		}
	}
	writeTable(w, rows, -1)
	if len(c.StopOrder) > 0 {
		fmt.Fprintln(w, p.T("show.cs.stop_order", strings.Join(c.StopOrder, " → ")))
	}
	if len(c.Profiles) > 0 {
		fmt.Fprintln(w, p.T("show.cs.profiles", strings.Join(c.Profiles, ", ")))
	}
	if len(c.Binds) > 0 {
		fmt.Fprintln(w)
		rows = [][]string{{p.T("show.col.bind"), p.T("show.col.content"), p.T("show.col.file")}}
		for _, b := range c.Binds {
			rows = append(rows, []string{b.Source + " → " + b.Container + ":" + b.Destination, humanBytes(b.Size), b.File})
		}
		writeTable(w, rows, -1)
	}
}

// at is s[i], or def past its end.
func at(s []string, i int, def string) string {
	if i < len(s) {
		return s[i]
	}
	return def
}
