package main

import (
	"encoding/json"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/spf13/cobra"
)

func init() { register(newShowCmd) }

func newShowCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show PACK",
		Short: "Print what a pack holds (reads its manifest only; use verify to check the data)",
		Args:  requireArgs(1, "the pack directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, hash, err := pack.ReadManifest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"pack": args[0], "package_hash": hash, "manifest": m})
			}
			printPack(cmd.OutOrStdout(), i18n.For(g.lang), args[0], m, hash)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the manifest and package hash as JSON")
	return cmd
}
