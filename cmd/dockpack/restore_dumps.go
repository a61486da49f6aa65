package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/internal/i18n"
)

// runRestoreDumps is `dockpack restore PACK --dumps`: each dump of the pack
// piped into its service's restore command, in the running stack.
func runRestoreDumps(cmd *cobra.Command, g *globals, dir string, spec restore.DumpsSpec, jsonOut bool) error {
	ctx := cmd.Context()
	eng, err := g.openEngine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	spec.Engine, spec.Logger, spec.Lang = eng, g.logger, g.lang
	out := cmd.OutOrStdout()
	rep := reporterFor(out, jsonOut)
	if rep != nil {
		spec.Progress = rep.report
	}
	res, err := restore.RunDumps(ctx, dir, spec)
	rep.finish()
	if jsonOut {
		ev := map[string]any{"event": "done", "dumps": res}
		if err != nil {
			ev = map[string]any{"event": "failed", "error": err.Error(), "dumps": res}
		}
		rep.event(ev)
		return err
	}
	if res != nil {
		for _, m := range res.Messages {
			fmt.Fprintln(out, m)
		}
	}
	if err == nil {
		fmt.Fprintln(out, i18n.T(g.lang, "restore.dumps.all", len(res.Loaded), res.Project))
	}
	return err
}
