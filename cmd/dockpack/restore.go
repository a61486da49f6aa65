package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/spf13/cobra"
)

func init() { register(newRestoreCmd) }

func newRestoreCmd(g *globals) *cobra.Command {
	var (
		spec       restore.Spec
		components string
		jsonOut    bool
		dumps      bool
		services   []string
		s3f        s3Flags
		af         ageFlags
	)
	cmd := &cobra.Command{
		Use:   "restore PACK [flags]",
		Short: "Restore a pack: images, named volumes (for the same or a new project name) and the SQLite database",
		Long:  restoreLong,
		Args:  requireArgs(1, "the pack directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := af.readKeys(cmd.Context()) // a sealed pack's identities (seal_flags.go)
			if err != nil {
				return err
			}
			spec.Keys = keys
			p := args[0]
			if storage.IsS3URL(p) { // object storage: fetched into local staging, verified on arrival
				local, cleanup, err := fetchRemote(cmd.Context(), g, p, spec.StagingDir, s3f.options())
				if err != nil {
					return fetchErr(err)
				}
				defer cleanup()
				p = local
			}
			if dumps {
				return runRestoreDumps(cmd, g, p, restore.DumpsSpec{Project: spec.Project, Services: services, Keys: keys}, jsonOut)
			}
			return runRestore(cmd, g, p, spec, components, jsonOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Project, "project", "", "restore under this compose project name (default: the pack's)")
	f.StringVar(&components, "components", "", "what to restore, comma-separated: db,volumes,images (default: what the pack holds; db only with --sqlite-dest)")
	f.StringVar(&spec.SQLiteDest, "sqlite-dest", "", "restore the database to this path (atomically; refused while it is in use)")
	f.BoolVar(&spec.Force, "force", false, "replace existing volumes that hold data, an existing database, and tags that name other images")
	f.BoolVar(&spec.StopRunning, "stop-running", false, "stop the running containers that use a volume being restored, and start them again afterwards")
	f.BoolVar(&spec.SkipVerify, "no-verify", false, "skip the full verification before restoring (every file is still checked while streaming)")
	f.BoolVar(&spec.PlanOnly, "plan", false, "print what would happen and change nothing")
	f.BoolVar(&jsonOut, "json", false, "progress and result as JSON lines on stdout")
	f.StringVar(&spec.StagingDir, "staging-dir", envOr("DOCKPACK_STAGING_DIR", ""), "local scratch directory (default the system temp dir) ($DOCKPACK_STAGING_DIR)")
	f.BoolVar(&spec.Binds, "binds", false, "restore the pack's bind-mounted files and directories to the paths they were mounted from")
	f.StringVar(&spec.BindsRoot, "binds-root", "", "restore the pack's bind mounts under this directory instead (DIR/<their path>)")
	f.BoolVar(&dumps, "dumps", false, "load the pack's dumps into the running services (after the stack was started): nothing else is restored")
	f.StringArrayVar(&services, "service", nil, "with --dumps: only this service's dump (repeatable)")
	f.DurationVar(&spec.StopTimeout, "stop-timeout", 30*time.Second, "how long a stopping container gets before it is killed")
	s3f.bind(f)
	af.bindRead(f)
	return cmd
}

// restoreLong is restore's help.
const restoreLong = `Restore a pack into the Docker Engine: verify it first (--no-verify skips that; every file is still
checked while it streams: against its checksum, images' layers by the engine against their DiffIDs,
docs/format.md), plan, then load the images, recreate and fill the
volumes and restore the database. --plan prints the plan and changes nothing.
A database replaced at --sqlite-dest is first kept beside it as <name>.before-restore-<UTC time>
(a consistent snapshot, WAL included), so the restore can be undone.

Volumes are created with the pack's driver, options and labels so that "docker compose up" adopts
them. Under --project NEW they are named NEW_<volume> and labelled for NEW (compose's config-hash
dropped), so a copy can run beside the original. An existing volume that holds data is refused
unless --force; one a failed restore left incomplete is refilled without it. A volume used by a
running container is refused unless --stop-running (those containers are stopped and started again
afterwards). The database is restored only to --sqlite-dest, atomically, never while in use.

Running restore again after a failure is safe.

Dumps and bind mounts (docs/consistency.md): the pack's bind-mounted files and directories are
restored with --binds (to the paths they were mounted from) or --binds-root DIR (under DIR); a
destination that holds data is refused unless --force. A pack with dumps needs its stack running
to load them: restore prints the next step; after "docker compose up -d", "restore PACK --dumps"
pipes each dump into the restore command recorded with it (dockpack.restore-dump), run in the
service's running container (refused when the service does not run).

A sealed pack (docs/encryption.md) needs --age-identity FILE with the identity of one of the
recipients its manifest lists; without one (or with another) it is refused before anything changes.

Exit codes: 0 done, 1 failed, 2 usage, 3 refused by the plan or for want of the age identity
(nothing changed), 4 the pack failed verification (nothing changed), 130 canceled.`

// runRestore restores the pack at path (restore without --dumps).
func runRestore(cmd *cobra.Command, g *globals, path string, spec restore.Spec, components string, jsonOut bool) error {
	ctx := cmd.Context()
	if components != "" {
		cs, err := parseComponents(components)
		if err != nil {
			return usageError{err}
		}
		spec.Components = cs
	}
	if spec.Components == nil || len(spec.Components) != 1 || spec.Components[0] != pack.ComponentDB {
		eng, err := g.openEngine(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		spec.Engine = eng
	}
	spec.Logger, spec.Lang = g.logger, g.lang
	out := cmd.OutOrStdout()
	rep := reporterFor(out, jsonOut)
	if rep != nil {
		spec.Progress = rep.report
	}
	res, err := restore.Run(ctx, path, spec)
	rep.finish()
	if jsonOut {
		return restoreEvent(rep, res, err)
	}
	return printRestore(out, i18n.For(g.lang), res, err)
}

// parseComponents reads --components: "db,volumes,images".
func parseComponents(list string) ([]pack.Component, error) {
	out := []pack.Component{}
	for _, s := range strings.Split(list, ",") {
		c, err := pack.ParseComponent(s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// restoreEvent writes the outcome of a restore as the last JSON line.
func restoreEvent(rep *progressReporter, res *restore.Result, err error) error {
	if err != nil {
		ev := map[string]any{"event": "failed", "error": err.Error()}
		if res != nil {
			ev["plan"], ev["verify"] = res.Plan, res.Verify
		}
		rep.event(ev)
		return err
	}
	rep.event(map[string]any{"event": "done", "planned": res.Planned, "pack": res.Pack, "package_hash": res.PackageHash,
		"plan": res.Plan, "images": res.Images, "sqlite": res.SQLite, "sqlite_kept": res.SQLiteKept, "bytes": res.Bytes, "duration_ms": res.Duration.Milliseconds(),
		"next": res.Next})
	return restoreExit(res)
}

// printRestore writes the outcome of a restore for people: the plan (also
// when refused), or the failed verification.
func printRestore(out io.Writer, t i18n.Printer, res *restore.Result, err error) error {
	if err != nil {
		if res != nil && res.Plan != nil {
			printRestorePlan(out, t, res.Plan)
		} else if res != nil && res.Verify != nil && errors.Is(err, pack.ErrVerify) {
			printVerify(out, t, res.Verify)
		}
		return err
	}
	printRestorePlan(out, t, res.Plan)
	if !res.Planned {
		fmt.Fprintln(out)
		fmt.Fprintln(out, t.T("restore.show.done", humanBytes(res.Bytes), res.Pack, res.Duration.Round(time.Millisecond)))
		if res.SQLiteKept != "" {
			fmt.Fprintln(out, t.T("liverestore.cli.kept", res.SQLiteKept))
		}
		for _, n := range res.Next {
			fmt.Fprintln(out, n)
		}
	}
	return restoreExit(res)
}

// restoreExit is exit code 3 for a plan (--plan) that would be refused.
func restoreExit(res *restore.Result) error {
	if res.Planned && len(res.Plan.Problems) > 0 {
		return exitStatus(exitPrecheck)
	}
	return nil
}

// printRestorePlan writes the plan for people; its notes, problems and
// reasons come in the language the restore ran in.
func printRestorePlan(w io.Writer, t i18n.Printer, p *restore.Plan) {
	fmt.Fprintln(w, t.T("restore.show.pack", p.Pack))
	if p.Project != p.PackProject {
		fmt.Fprintln(w, t.T("restore.show.project_renamed", p.Project, p.PackProject))
	} else {
		fmt.Fprintln(w, t.T("restore.show.project", p.Project))
	}
	fmt.Fprintln(w, t.T("restore.show.restoring", pack.JoinComponents(p.Components), humanBytes(p.Bytes)))
	if len(p.Images) > 0 {
		fmt.Fprintln(w)
		rows := [][]string{{t.T("restore.col.image"), t.T("restore.col.digest"), t.T("restore.col.action"), t.T("restore.col.note")}}
		for _, im := range p.Images {
			note := ""
			if len(im.Moves) > 0 {
				note = t.T("restore.show.moves", strings.Join(im.Moves, ", "))
			}
			rows = append(rows, []string{strings.Join(im.Tags, ", "), shortDigest(im.ConfigDigest), im.Action, note})
		}
		writeTable(w, rows, -1)
	}
	if len(p.Volumes) > 0 {
		fmt.Fprintln(w)
		rows := [][]string{{t.T("restore.col.volume"), t.T("restore.col.from"), t.T("restore.col.content"), t.T("restore.col.action"), t.T("restore.col.note")}}
		for _, v := range p.Volumes {
			rows = append(rows, []string{v.Target, v.Name, humanBytes(v.Size), v.Action, truncateRunes(v.Reason, 120)})
		}
		writeTable(w, rows, -1)
	}
	if s := p.SQLite; s != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.TrimRight(t.T("restore.show.database", s.File, s.Dest, humanBytes(s.Size), s.Action, s.Reason), " "))
	}
	if len(p.Stop) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, t.T("restore.show.stop", strings.Join(p.Stop, ", ")))
	}
	notes := slices.Sorted(slices.Values(p.Notes))
	for _, n := range notes {
		fmt.Fprintln(w, t.T("restore.show.note", n))
	}
	for _, pr := range p.Problems {
		fmt.Fprintln(w, t.T("restore.show.refused", pr))
	}
}
