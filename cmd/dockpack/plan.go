package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
)

func init() { register(newPlanCmd) }

func newPlanCmd(g *globals) *cobra.Command {
	var sf specFlags
	var af ageFlags
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "plan --project P --target DIR [flags]",
		Short: "Show what a backup would write, its size and what it would leave out (writes nothing)",
		Long: `Dry run of "dockpack backup" with the same flags: resolve the stack by its compose label,
run every precheck (engine, stack, database, target mount without the write probe,
staging and data-root free space) and print, as a table, each image, volume and the
database with its estimated size, the total, the free space on the target, the services
that would be stopped, and what would be skipped (anonymous volumes, bind mounts) and why.

Exit codes: 0 the backup would run, 3 a precheck refuses it (the table shows which),
2 usage, 1 other errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lang, ok := i18n.Normalize(g.lang)
			if !ok {
				return usageError{fmt.Errorf("--lang %q: want one of %s", g.lang, strings.Join(i18n.Supported(), ", "))}
			}
			ctx := cmd.Context()
			spec, p, sp, perr := runPlan(ctx, g, &sf, &af, lang)
			if p == nil {
				return perr
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				pj := planJSONOf(p, perr, spec.SQLitePath)
				pj.Store = sp
				if err := enc.Encode(pj); err != nil {
					return err
				}
			} else {
				printPlanWithStore(out, i18n.For(lang), p, sp, perr, spec.SQLitePath)
			}
			switch {
			case perr == nil:
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(perr, backup.ErrInvalidSpec):
				return exitStatus(exitUsage)
			}
			return exitStatus(exitPrecheck)
		},
	}
	sf.bind(cmd.Flags())
	af.bindWrite(cmd.Flags())
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the plan as JSON")
	return cmd
}

// runPlan plans the backup the flags describe: the spec, the plan (nil
// when there is none to show), a store backup's estimate of the bytes the
// target's store lacks (nil for a classic one, or when it could not be
// made: logged) and the plan's error. An engine that cannot be opened is
// the plan's failed engine precheck.
func runPlan(ctx context.Context, g *globals, sf *specFlags, af *ageFlags, lang string) (backup.Spec, *backup.PackPlan, *backup.StorePlan, error) {
	c, oerr := g.openEngine(ctx)
	var eng backup.Engine
	if oerr == nil {
		defer c.Close()
		eng = c
	}
	spec, err := sf.spec(eng)
	if err != nil {
		return spec, nil, nil, err
	}
	if err := af.applyWrite(ctx, &spec); err != nil { // the age flags: refused as the backup would be
		return spec, nil, nil, err
	}
	spec.Logger, spec.Lang = g.logger, lang
	if oerr != nil {
		p, err := backup.PlanUnreachable(ctx, spec, oerr)
		return spec, p, nil, err
	}
	p, err := backup.Plan(ctx, spec)
	var sp *backup.StorePlan
	if spec.Format == backup.FormatStore && p != nil && p.Stack.Project != "" {
		var serr error
		if sp, serr = backup.PlanStore(ctx, spec, p); serr != nil {
			g.logger.Warn("plan: the store's estimate could not be made", zap.Error(serr))
		}
	}
	return spec, p, sp, err
}

// printPlanStore writes the bytes the store lacks, per component.
func printPlanStore(w io.Writer, p i18n.Printer, sp *backup.StorePlan) {
	size := func(n int64) string { return units.BytesSize(float64(n)) }
	if sp.StoreID == "" {
		fmt.Fprintln(w, p.T("plan.store_new", size(sp.Size())))
	} else {
		fmt.Fprintln(w, p.T("plan.store", sp.StoreID, size(sp.Lacks()), size(sp.Size())))
	}
	for _, comp := range []string{"db", "volumes", "images"} {
		c, ok := sp.Components[comp]
		if !ok {
			continue
		}
		how := p.T("plan.store_how." + c.How)
		if c.How == backup.LackHistory {
			how = p.T("plan.store_how.history", sp.Basis)
		}
		fmt.Fprintln(w, p.T("plan.store_part", p.T("plan.store_component."+comp), size(c.Lacks), size(c.Size), how))
	}
	fmt.Fprintln(w)
}

// planItem is one row of the plan: a database, volume or image.
type planItem struct {
	Kind  string `json:"kind"` // db | volume | image
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"` // -1: unknown
	Note  string `json:"note,omitempty"`
}

// planItems lists what the pack would hold, in pack order.
func planItems(p i18n.Printer, pl *backup.PackPlan, sqlitePath string) []planItem {
	has := func(c pack.Component) bool { return slices.Contains(pl.Components, c) }
	var items []planItem
	if has(pack.ComponentDB) {
		items = append(items, planItem{Kind: "db", Name: sqlitePath, Bytes: pl.Estimate.DB, Note: p.T("plan.note.db")})
	}
	stopped := map[string]bool{}
	for _, c := range pl.Stop {
		stopped[c.Name] = true
	}
	if has(pack.ComponentVolumes) {
		for _, v := range pl.Stack.Volumes {
			var notes []string
			if v.External {
				notes = append(notes, p.T("plan.note.external"))
			}
			var users []string
			for _, u := range v.UsedBy {
				users = append(users, u.ContainerName)
			}
			if len(users) > 0 {
				notes = append(notes, p.T("plan.note.used_by", strings.Join(users, ", ")))
			} else {
				notes = append(notes, p.T("plan.note.unused"))
			}
			size := v.Size
			if s, ok := pl.Estimate.VolumeSizes[v.Name]; ok {
				size = s
			}
			items = append(items, planItem{Kind: "volume", Name: v.Name, Bytes: size, Note: strings.Join(notes, "; ")})
		}
	}
	if has(pack.ComponentImages) {
		for _, im := range pl.Stack.Images {
			name := strings.Join(cleanTags(im.RepoTags), ", ")
			note := p.T("plan.note.used_by", strings.Join(im.Containers, ", "))
			if name == "" {
				name = strings.TrimPrefix(im.ID, "sha256:")[:min(12, len(strings.TrimPrefix(im.ID, "sha256:")))]
				note = p.T("plan.note.untagged") + "; " + note
			}
			items = append(items, planItem{Kind: "image", Name: name, Bytes: im.Size, Note: note})
		}
	}
	return items
}

func cleanTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if t != "" && t != "<none>:<none>" {
			out = append(out, t)
		}
	}
	return out
}

func sizeText(p i18n.Printer, n int64) string {
	if n < 0 {
		return p.T("plan.unknown")
	}
	return units.BytesSize(float64(n))
}

// skipReason is the reason a mount is not in the pack, in p's language.
func skipReason(p i18n.Printer, s pack.SkipEntry) string {
	key := "plan.skip." + s.Kind
	if i18n.Has(i18n.English, key) {
		return p.T(key)
	}
	return s.Reason
}

// underDir reports whether p is dir or inside it.
func underDir(p, dir string) bool {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// tOr translates key, or returns def when no catalog has it.
func tOr(p i18n.Printer, key, def string) string {
	if i18n.Has(i18n.English, key) {
		return p.T(key)
	}
	return def
}

// printPlan writes the plan for people.
func printPlan(w io.Writer, p i18n.Printer, pl *backup.PackPlan, perr error, sqlitePath string) {
	printPlanWithStore(w, p, pl, nil, perr, sqlitePath)
}

// printPlanWithStore is printPlan with a store backup's estimate of the
// bytes the target's store lacks (sp; nil: none) after the space lines.
func printPlanWithStore(w io.Writer, p i18n.Printer, pl *backup.PackPlan, sp *backup.StorePlan, perr error, sqlitePath string) {
	comps := make([]string, len(pl.Components))
	for i, c := range pl.Components {
		comps[i] = string(c)
	}
	fmt.Fprintln(w, p.T("plan.header", pl.Project, pl.Target, strings.Join(comps, ", ")))
	if pl.Engine.Version != "" {
		fmt.Fprintln(w, p.T("plan.engine", pl.Engine.Version, pl.Engine.APIVersion, pl.Engine.ImageStore))
	}
	fmt.Fprintln(w)
	printPlanItems(w, p, pl, sqlitePath)
	printPlanSpace(w, p, pl)
	if sp != nil {
		printPlanStore(w, p, sp)
	}
	printPlanSkipped(w, p, pl, sqlitePath)
	printPlanChecks(w, p, pl.Checks)
	if perr == nil {
		fmt.Fprintln(w, p.T("plan.verdict_ok"))
	} else {
		fmt.Fprintln(w, p.T("plan.verdict_refused"))
	}
}

// printPlanItems writes the table of what the pack would hold, and its total.
func printPlanItems(w io.Writer, p i18n.Printer, pl *backup.PackPlan, sqlitePath string) {
	rows := [][]string{{p.T("plan.col.kind"), p.T("plan.col.name"), p.T("plan.col.size"), p.T("plan.col.note")}}
	for _, it := range planItems(p, pl, sqlitePath) {
		rows = append(rows, []string{p.T("plan.kind." + it.Kind), it.Name, sizeText(p, it.Bytes), it.Note})
	}
	totalNote := ""
	if slices.Contains(pl.Components, pack.ComponentImages) && len(pl.Stack.Images) > 0 {
		totalNote = p.T("plan.note.total_images", units.BytesSize(float64(pl.Estimate.Images)))
	}
	rows = append(rows, []string{p.T("plan.total"), "", units.BytesSize(float64(pl.Estimate.Total())), totalNote})
	writeTable(w, rows, len(rows)-1)
	fmt.Fprintln(w)
}

// printPlanSpace writes the free space where the pack goes and where its
// parts are staged, and the services stopped for the volumes.
func printPlanSpace(w io.Writer, p i18n.Printer, pl *backup.PackPlan) {
	tr := pl.TargetReport
	if tr.MountPoint != "" {
		margin := "10%"
		if t := pl.Estimate.Total(); t > 0 {
			margin = fmt.Sprintf("%.0f%%", (float64(pl.Required)/float64(t)-1)*100)
		}
		fmt.Fprintln(w, p.T("plan.target", pl.Target, tr.MountPoint, tr.FSType, tr.Source,
			units.BytesSize(float64(tr.FreeBytes)), units.BytesSize(float64(pl.Required)), margin))
	} else {
		fmt.Fprintln(w, p.T("plan.target_unknown", pl.Target, units.BytesSize(float64(pl.Required))))
	}
	if slices.Contains(pl.Components, pack.ComponentDB) {
		fmt.Fprintln(w, p.T("plan.staging", pl.StagingDir, units.BytesSize(float64(pl.StagingFree)), units.BytesSize(float64(pl.Estimate.DB))))
	}
	if pl.DataRootChecked {
		fmt.Fprintln(w, p.T("plan.data_root", pl.Engine.DataRoot, units.BytesSize(float64(pl.DataRootFree)), units.BytesSize(float64(pl.Estimate.Images))))
	}
	if len(pl.Stop) > 0 {
		var names []string
		for _, c := range pl.Stop {
			names = append(names, c.Name)
		}
		fmt.Fprintln(w, p.T("plan.stop", strings.Join(names, ", ")))
	}
	fmt.Fprintln(w)
}

// printPlanSkipped writes what the pack leaves out, and why.
func printPlanSkipped(w io.Writer, p i18n.Printer, pl *backup.PackPlan, sqlitePath string) {
	if len(pl.Skipped) == 0 {
		return
	}
	fmt.Fprintln(w, p.T("plan.skipped"))
	rows := [][]string{}
	for _, s := range pl.Skipped {
		where := s.Source
		if s.Destination != "" {
			where = strings.TrimSpace(where + " → " + s.Container + ":" + s.Destination)
		}
		reason := skipReason(p, s)
		if s.Kind == "bind" && sqlitePath != "" && underDir(sqlitePath, s.Source) {
			reason = p.T("plan.skip.bind_db")
		}
		rows = append(rows, []string{"  " + tOr(p, "plan.skipkind."+s.Kind, s.Kind), where, reason})
	}
	writeTable(w, rows, -1)
	fmt.Fprintln(w)
}

// printPlanChecks names the prechecks that passed, then each warning and
// failure with its code, summary, error and fix.
func printPlanChecks(w io.Writer, p i18n.Printer, checks []check.Check) {
	var passed []string
	for _, c := range checks {
		if c.Status == check.OK {
			passed = append(passed, checkTitle(c))
		}
	}
	if len(passed) > 0 {
		fmt.Fprintln(w, p.T("plan.checks_ok", strings.Join(passed, ", ")))
	}
	for _, c := range checks {
		switch c.Status {
		case check.Warn:
			fmt.Fprintln(w, p.T("plan.check_warn", checkTitle(c), c.Code, c.Summary))
		case check.Fail, check.Blocked:
			fmt.Fprintln(w, p.T("plan.check_failed", checkTitle(c), c.Code, c.Summary))
			if c.Detail != "" {
				fmt.Fprintln(w, p.T("plan.check_detail", c.Detail))
			}
		default:
			continue
		}
		if c.Fix != "" {
			fmt.Fprintln(w, p.T("plan.check_fix", c.Fix))
		}
	}
}

// checkTitle is the check's title, else its name.
func checkTitle(c check.Check) string {
	if c.Title != "" {
		return c.Title
	}
	return c.Name
}

// writeTable aligns rows in columns (East Asian wide characters count two);
// a rule is drawn above row ruleAt (when > 0) and under the header row 0.
func writeTable(w io.Writer, rows [][]string, ruleAt int) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], textWidth(c))
		}
	}
	line := func(r []string) string {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(padRight(c, widths[i]))
			b.WriteString("  ")
		}
		return strings.TrimRight(b.String(), " ")
	}
	rule := func() {
		total := 0
		for i := 0; i < len(widths); i++ {
			total += widths[i] + 2
		}
		fmt.Fprintln(w, strings.Repeat("─", min(total-2, 100)))
	}
	for i, r := range rows {
		if ruleAt > 0 && i == ruleAt {
			rule()
		}
		fmt.Fprintln(w, line(r))
		if ruleAt > 0 && i == 0 {
			rule()
		}
	}
}

// planJSON is `dockpack plan --json`.
type planJSON struct {
	OK              bool             `json:"ok"`
	Project         string           `json:"project"`
	Target          string           `json:"target"`
	Components      []pack.Component `json:"components"`
	Engine          engineJSON       `json:"engine"`
	Items           []planItem       `json:"items"`
	EstimateBytes   int64            `json:"estimate_bytes"`
	ImagesBytes     int64            `json:"images_bytes"` // shared layers counted once
	RequiredBytes   uint64           `json:"required_bytes"`
	TargetMount     string           `json:"target_mount_point"`
	TargetFSType    string           `json:"target_fstype"`
	TargetFreeBytes uint64           `json:"target_free_bytes"`
	StagingDir      string           `json:"staging_dir"`
	StagingFree     uint64           `json:"staging_free_bytes"`
	DataRootFree    *uint64          `json:"data_root_free_bytes"` // null: not checked
	Stop            []string         `json:"stop"`
	Skipped         []pack.SkipEntry `json:"skipped"`
	Checks          []checkJSON      `json:"checks"`
	// Store is a store backup's estimate of the bytes the target's store
	// lacks (absent for a classic backup).
	Store *backup.StorePlan `json:"store,omitempty"`
}

type engineJSON struct {
	Version    string `json:"version"`
	APIVersion string `json:"api_version"`
	ImageStore string `json:"image_store"`
	DataRoot   string `json:"data_root"`
}

type checkJSON struct {
	Name   string       `json:"name"`
	OK     bool         `json:"ok"` // it does not refuse the backup (ok or a warning)
	Status check.Status `json:"status"`
	Code   string       `json:"code"`
	// ErrorCode is the code of a failed check.
	ErrorCode string `json:"error_code,omitempty"`
	Summary   string `json:"summary"`
	Detail    string `json:"detail,omitempty"`
}

func planJSONOf(pl *backup.PackPlan, perr error, sqlitePath string) planJSON {
	out := planJSON{
		OK: perr == nil, Project: pl.Project, Target: pl.Target, Components: pl.Components,
		Engine:        engineJSON{pl.Engine.Version, pl.Engine.APIVersion, pl.Engine.ImageStore, pl.Engine.DataRoot},
		Items:         planItems(i18n.For(i18n.English), pl, sqlitePath),
		EstimateBytes: pl.Estimate.Total(), ImagesBytes: pl.Estimate.Images, RequiredBytes: pl.Required,
		TargetMount: pl.TargetReport.MountPoint, TargetFSType: pl.TargetReport.FSType, TargetFreeBytes: pl.TargetReport.FreeBytes,
		StagingDir: pl.StagingDir, StagingFree: pl.StagingFree, Stop: []string{}, Skipped: pl.Skipped, Checks: []checkJSON{},
	}
	if out.Items == nil {
		out.Items = []planItem{}
	}
	if out.Skipped == nil {
		out.Skipped = []pack.SkipEntry{}
	}
	if pl.DataRootChecked {
		v := pl.DataRootFree
		out.DataRootFree = &v
	}
	for _, c := range pl.Stop {
		out.Stop = append(out.Stop, c.Name)
	}
	for _, c := range pl.Checks {
		failed := c.Status == check.Fail || c.Status == check.Blocked
		cj := checkJSON{Name: c.Name, OK: !failed, Status: c.Status, Code: c.Code, Summary: c.Summary, Detail: c.Detail}
		if failed {
			cj.ErrorCode = c.Code
		}
		out.Checks = append(out.Checks, cj)
	}
	return out
}

var _ backup.Engine = (*dockerapi.Client)(nil)
