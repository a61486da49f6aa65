package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { register(newPruneCmd) }

// ageValue is a duration flag that also takes days ("30d", "1d12h").
type ageValue struct{ d *time.Duration }

var daysRE = regexp.MustCompile(`^(\d+)d(.*)$`)

func (a ageValue) String() string {
	if a.d == nil || *a.d == 0 {
		return "0"
	}
	return a.d.String()
}

func (a ageValue) Type() string { return "duration" }

func (a ageValue) Set(s string) error {
	d, err := parseAge(s)
	if err != nil {
		return err
	}
	*a.d = d
	return nil
}

// parseAge reads a Go duration, optionally led by a number of days.
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		days, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not an age (e.g. 30d, 12h, 1d12h)", s)
	}
	return days + d, nil
}

var _ pflag.Value = ageValue{}

func newPruneCmd(g *globals) *cobra.Command {
	var (
		o       prune.Options
		jsonOut bool
		s3f     s3Flags
	)
	o.PartialOlderThan = 24 * time.Hour
	cmd := &cobra.Command{
		Use:   "prune --target DIR --project P --keep N [--max-age D] [--deep] [--force] [--dry-run]",
		Short: "Delete old packs of a project, never the newest complete one",
		Long:  pruneLong,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runPrune(cmd, g, o, s3f, jsonOut) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", envOr("DOCKPACK_TARGET", ""), "directory holding the packs, or s3://bucket/prefix ($DOCKPACK_TARGET)")
	s3f.bind(f)
	f.StringVar(&o.Project, "project", envOr("DOCKPACK_PROJECT", ""), "compose project whose packs are pruned ($DOCKPACK_PROJECT)")
	f.IntVar(&o.Keep, "keep", 0, "keep this many of the newest complete packs")
	f.IntVar(&o.KeepDaily, "keep-daily", 0, "also keep the newest pack of each of the last N days")
	f.IntVar(&o.KeepWeekly, "keep-weekly", 0, "also keep the newest pack of each of the last N weeks")
	f.IntVar(&o.KeepMonthly, "keep-monthly", 0, "also keep the newest pack of each of the last N months")
	f.DurationVar(&o.LockWait, "lock-wait", 0, "how long to wait while backups hold the target's pack store (0: refuse at once)")
	f.Var(ageValue{&o.MaxAge}, "max-age", "delete complete packs older than this (e.g. 30d, 12h; the newest is always kept)")
	f.Var(ageValue{&o.PartialOlderThan}, "partial-older-than", "delete partial pack directories older than this and idle as long (0: leave them)")
	f.BoolVar(&o.Deep, "deep", false, "check the newest pack by re-hashing every file, not only its structure")
	f.BoolVar(&o.Force, "force", false, "delete even when the newest pack fails verification")
	f.BoolVar(&o.DryRun, "dry-run", false, "list what would be deleted, delete nothing")
	f.StringVar(&o.StagingDir, "staging-dir", envOr("DOCKPACK_STAGING_DIR", ""), "local scratch directory for --deep's SQLite check ($DOCKPACK_STAGING_DIR)")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}

// pruneLong is prune's help.
const pruneLong = `Delete the complete packs of a project beyond the --keep newest, or older than --max-age
(e.g. 30d), oldest first, and partial pack directories older than --partial-older-than that nothing
has written to for as long (a backup still running keeps its directory).

The newest complete pack is never deleted. Nothing at all is deleted while the newest pack fails a
structural verification (manifest, SHA256SUMS, sizes, tar headers; --deep re-hashes every file):
the older packs may be the only good ones. --force deletes anyway; --dry-run only lists.

Exit codes: 0 done, 1 failed, 2 usage, 4 refused because the newest pack fails verification.`

// runPrune prunes o.Target (a directory, or object storage through its backend).
func runPrune(cmd *cobra.Command, g *globals, o prune.Options, s3f s3Flags, jsonOut bool) error {
	if o.Target == "" {
		return usageError{errors.New("no target directory given (--target or $DOCKPACK_TARGET)")}
	}
	if o.Project == "" {
		return usageError{errors.New("no project given (--project): prune works on one project's packs")}
	}
	if o.Keep == 0 && o.MaxAge == 0 && o.KeepDaily == 0 && o.KeepWeekly == 0 && o.KeepMonthly == 0 {
		return usageError{errors.New("give --keep N (--keep-daily/--keep-weekly/--keep-monthly) and/or --max-age D: without either nothing would be pruned")}
	}
	o.LiveWithin = o.PartialOlderThan
	o.Logger, o.Lang = g.logger, g.lang
	var res prune.Result
	var err error
	if storage.IsS3URL(o.Target) { // object storage: through its backend
		b, oerr := openRemote(cmd.Context(), o.Target, s3f.options())
		if oerr != nil {
			return oerr
		}
		defer b.Close()
		res, err = transfer.Prune(cmd.Context(), b, o)
	} else {
		res, err = prune.Run(cmd.Context(), o)
	}
	out := cmd.OutOrStdout()
	if jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		body := map[string]any{"dry_run": o.DryRun, "deleted": res.Deleted, "kept": res.Kept, "refused": res.Refused, "blocked": res.Blocked,
			"reasons": res.Reasons, "gc": res.GC, "gc_skipped": res.GCSkipped}
		if res.Newest != nil {
			body["newest_check"] = verifyJSON(res.Newest)
		}
		if err != nil {
			body["error"] = err.Error()
		}
		if eerr := enc.Encode(body); eerr != nil {
			return eerr
		}
	} else {
		printPrune(out, i18n.For(g.lang), o.DryRun, res)
	}
	return err
}

// printPrune writes what a prune deleted (or would delete, or was refused
// to delete) and why, and what it kept, in p's language.
func printPrune(w io.Writer, p i18n.Printer, dryRun bool, res prune.Result) {
	if vr := res.Newest; vr != nil {
		kind, verdict := p.T("verify.kind.structural"), p.T("prune.newest.good")
		if !vr.Structural {
			kind = p.T("verify.kind.full")
		}
		if !vr.OK {
			verdict = p.T("prune.newest.failed")
		}
		fmt.Fprintln(w, p.T("prune.newest", vr.Pack, kind, verdict))
		for _, c := range vr.Failed() {
			what := c.Path
			if what == "" {
				what = c.Name
			}
			fmt.Fprintf(w, "  %s: %s (%s)\n", what, c.Summary, c.Code)
		}
	}
	verb, list := p.T("prune.deleted"), res.Deleted
	switch {
	case res.Refused:
		verb, list = p.T("prune.refused"), res.Blocked
	case dryRun:
		verb = p.T("prune.would_delete")
	}
	rows := [][]string{}
	for _, pi := range list {
		rows = append(rows, []string{verb, pi.Name, tOr(p, "packs.status."+string(pi.Status), string(pi.Status)), humanBytes(pi.Size),
			res.Reasons[pi.Name].Text(p.Lang)})
	}
	for _, pi := range res.Kept {
		rows = append(rows, []string{p.T("prune.kept"), pi.Name, tOr(p, "packs.status."+string(pi.Status), string(pi.Status)), humanBytes(pi.Size)})
	}
	writeTable(w, rows, -1)
	if res.Refused {
		fmt.Fprintln(w, p.T("prune.refused_reason"))
	}
	if len(list) == 0 {
		fmt.Fprintln(w, p.T("prune.nothing"))
	}
	if gc := res.GC; gc != nil {
		fmt.Fprintln(w, p.T("prune.gc", gc.BundlesKept, gc.BundlesRepacked, gc.BundlesDeleted, humanBytes(gc.BytesDeleted), humanBytes(gc.BytesWritten)))
	}
	if res.GCSkipped != "" {
		fmt.Fprintln(w, p.T("prune.gc.skipped", res.GCSkipped))
	}
}
