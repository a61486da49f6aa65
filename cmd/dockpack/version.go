package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/dockpack/dockpack/backup"
)

// version is set with -ldflags "-X main.version=…" by `make build`.
var version = ""

func init() {
	if version != "" {
		backup.Version = version
	}
	register(func(g *globals) *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print dockpack's version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintf(cmd.OutOrStdout(), "dockpack %s (%s, %s/%s)\n", backup.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			},
		}
	})
}
