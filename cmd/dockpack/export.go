package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dockpack/dockpack/backup/export"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
)

func init() { register(newExportCmd) }

func newExportCmd(g *globals) *cobra.Command {
	var (
		to      string
		jsonOut bool
		mode    string
		pol     policyFlags
		af      ageFlags
	)
	cmd := &cobra.Command{
		Use:   "export PACK --to DIR",
		Short: "Write a self-contained classic pack of any pack (a store pack above all) into another directory",
		Long: `Write a self-contained classic pack (format 1) of PACK into DIR, under the same name: the migration
pack to carry to a host without dockpack — images.tar that "docker load -i" takes on any host (for a
store pack, assembled from the images' configs and layers), the volume tars, dumps and bind mounts,
the database, the compose files, a format-1 manifest and SHA256SUMS ("sha256sum -c SHA256SUMS").

Every byte is checked while it streams: each file against the source's manifest (a store pack's
chunks against their ids), images.tar's configs and layers against their digests, and images.tar
against the image-archive validator of a backup. DIR is verified like a backup's target (the same
--fstype, --any-fstype, --allow-root-fs, --expect-mount flags; the free space the pack needs) and
written through its pinned handle: the pack is built under a partial name and renamed when
complete, so an interrupted export leaves nothing that looks like a pack.

A sealed pack (docs/encryption.md) is exported as plaintext with --age-identity FILE: the export is
what "docker load -i images.tar" takes; without the identity it is refused (exit 3).

Exit codes: 0 exported, 3 the destination was refused (nothing written), 4 the pack to export is
damaged (nothing left at the destination), 1 the export failed, 2 usage, 130 canceled.`,
		Args: requireArgs(1, "the pack to export"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{errors.New("--to is required")}
			}
			pm, err := pack.ParseMode(mode)
			if err != nil {
				return usageError{err}
			}
			out := cmd.OutOrStdout()
			keys, err := af.readKeys(cmd.Context()) // a sealed pack's identities (seal_flags.go)
			if err != nil {
				return err
			}
			spec := export.Spec{Pack: args[0], Target: to, Policy: pol.policy(), Owner: owner.Self(""), PackMode: pm, Lang: g.lang, Logger: g.logger, Keys: keys}
			var bar *progressReporter
			if !jsonOut && stderrIsTTY() {
				bar = newProgressReporter(out, false)
				spec.Progress = bar.report
			}
			res, err := export.Export(cmd.Context(), spec)
			if bar != nil {
				bar.finish()
			}
			if errors.Is(err, export.ErrSource) {
				return fmt.Errorf("%w: %w", pack.ErrVerify, err)
			}
			if err != nil {
				return err
			}
			return printExport(out, g.lang, res, jsonOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the directory to write the exported pack in (it goes under it with the pack's name)")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	f.StringVar(&mode, "pack-mode", envOr("DOCKPACK_PACK_MODE", ""), "mode of the exported pack's files: 0600 (default), 0640 or 0644 ($DOCKPACK_PACK_MODE)")
	pol.bind(f)
	af.bindRead(f)
	return cmd
}

func printExport(out io.Writer, lang string, r *export.Result, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	p := i18n.For(lang)
	_, err := fmt.Fprintln(out, p.T("export.done", r.Source, r.Pack, r.Files, humanBytes(r.Bytes), r.PackageHash))
	return err
}
