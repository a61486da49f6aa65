package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
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
		o       pack.PruneOptions
		jsonOut bool
	)
	o.PartialOlderThan = 24 * time.Hour
	cmd := &cobra.Command{
		Use:   "prune --target DIR --project P --keep N [--max-age D] [--deep] [--force] [--dry-run]",
		Short: "Delete old packs of a project, never the newest complete one",
		Long: `Delete the complete packs of a project beyond the --keep newest, or older than --max-age
(e.g. 30d), oldest first, and partial pack directories older than --partial-older-than that nothing
has written to for as long (a backup still running keeps its directory).

The newest complete pack is never deleted. Nothing at all is deleted while the newest pack fails a
structural verification (manifest, SHA256SUMS, sizes, tar headers; --deep re-hashes every file):
the older packs may be the only good ones. --force deletes anyway; --dry-run only lists.

Exit codes: 0 done, 1 failed, 2 usage, 4 refused because the newest pack fails verification.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Target == "" {
				return usageError{errors.New("no target directory given (--target or $DOCKPACK_TARGET)")}
			}
			if o.Project == "" {
				return usageError{errors.New("no project given (--project): prune works on one project's packs")}
			}
			if o.Keep == 0 && o.MaxAge == 0 {
				return usageError{errors.New("give --keep N and/or --max-age D: without either nothing would be pruned")}
			}
			o.LiveWithin = o.PartialOlderThan
			o.Logger = g.logger
			res, err := pack.Prune(cmd.Context(), o)
			out := cmd.OutOrStdout()
			if jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				body := map[string]any{"dry_run": o.DryRun, "deleted": res.Deleted, "kept": res.Kept, "refused": res.Refused, "blocked": res.Blocked}
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
				printPrune(out, o, res)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", envOr("DOCKPACK_TARGET", ""), "directory holding the packs ($DOCKPACK_TARGET)")
	f.StringVar(&o.Project, "project", envOr("DOCKPACK_PROJECT", ""), "compose project whose packs are pruned ($DOCKPACK_PROJECT)")
	f.IntVar(&o.Keep, "keep", 0, "keep this many of the newest complete packs")
	f.Var(ageValue{&o.MaxAge}, "max-age", "delete complete packs older than this (e.g. 30d, 12h; the newest is always kept)")
	f.Var(ageValue{&o.PartialOlderThan}, "partial-older-than", "delete partial pack directories older than this and idle as long (0: leave them)")
	f.BoolVar(&o.Deep, "deep", false, "check the newest pack by re-hashing every file, not only its structure")
	f.BoolVar(&o.Force, "force", false, "delete even when the newest pack fails verification")
	f.BoolVar(&o.DryRun, "dry-run", false, "list what would be deleted, delete nothing")
	f.StringVar(&o.StagingDir, "staging-dir", envOr("DOCKPACK_STAGING_DIR", ""), "local scratch directory for --deep's SQLite check ($DOCKPACK_STAGING_DIR)")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}

func printPrune(w io.Writer, o pack.PruneOptions, res pack.PruneResult) {
	verb := "deleted"
	if o.DryRun {
		verb = "would delete"
	}
	if res.Newest != nil {
		kind := "structural"
		if !res.Newest.Structural {
			kind = "full"
		}
		verdict := "good"
		if !res.Newest.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "newest pack %s: %s check %s\n", res.Newest.Pack, kind, verdict)
		for _, c := range res.Newest.Failed() {
			fmt.Fprintf(w, "  %s\n", pack.FormatCheck(c))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	list := res.Deleted
	if res.Refused {
		verb, list = "NOT deleted (refused)", res.Blocked
	}
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", verb, p.Name, p.Status, humanBytes(p.Size))
	}
	for _, p := range res.Kept {
		fmt.Fprintf(tw, "kept\t%s\t%s\t%s\n", p.Name, p.Status, humanBytes(p.Size))
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(w, "nothing to delete")
	}
}
