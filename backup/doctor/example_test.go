package doctor_test

import (
	"context"
	"fmt"
	"os"

	"github.com/dockpack/dockpack/backup/doctor"
)

// Doctor runs the checks it has inputs for and skips the others, saying
// what to give. An embedding application passes its *dockerapi.Client as
// Engine and its *jobs.Manager as State.
func ExampleRun() {
	staging, _ := os.MkdirTemp("", "dockpack-doctor-example-")
	defer os.RemoveAll(staging)
	rep, err := doctor.Run(context.Background(), doctor.Options{
		StagingDir:   staging,
		RootWarnFree: 1, RootFailFree: 1, // any free space will do for the example
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range rep.Checks {
		fmt.Printf("%-9s %s\n", c.Name, c.Status)
	}
	fmt.Println("verdict:", rep.Verdict)
	// Output:
	// target    skip
	// root-fs   ok
	// staging   ok
	// sqlite    skip
	// engine    skip
	// data-root skip
	// stack     skip
	// compose   skip
	// lock      skip
	// jobs      skip
	// packs     skip
	// store     skip
	// encryption skip
	// verdict: ok
}
