// Command dockpack backs up a Docker Compose stack — its images, named
// volumes and an application's SQLite database — into a verified migration
// pack on a mounted share, restores such packs, and runs as a daemon with a
// job API. It only parses flags, environment and config and calls the
// library (packages backup, backup/httpapi, dockerapi, mountcheck, sqlitesnap).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer testAtExit()
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && err.Error() != "" {
		fmt.Fprintln(os.Stderr, "dockpack:", err)
		if hint := errorHint(root, err); hint != "" {
			fmt.Fprintln(os.Stderr, hint)
		}
	}
	return exitCode(err)
}
