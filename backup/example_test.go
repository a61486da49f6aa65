package backup_test

import (
	"context"
	"fmt"
	"log"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
)

// The library in a few lines (README.md shows this code): plan a backup,
// run it with progress, ask the doctor. It is compiled, not run (it needs
// an engine and a mounted share).
func Example() {
	ctx := context.Background()
	eng, err := dockerapi.New(ctx, dockerapi.Options{}) // the Engine API, never the docker CLI
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	spec := backup.Spec{Engine: eng, Project: "ragflow", Target: "/mnt/replica/packs",
		SQLitePath: "/srv/app/data/auth.db", Policy: mountcheck.Policy{ExpectedMountPoint: "/mnt/replica"}}
	plan, err := backup.Plan(ctx, spec) // dry run: estimate, every precheck, nothing written
	if err != nil {
		log.Fatalf("refused (%s): %v", backup.ErrorCode(err), err) // e.g. target_not_mounted
	}
	res, err := backup.Run(ctx, spec, func(p progress.Report) { log.Printf("%s %d%%", p.Step, p.Percent) })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(plan.Estimate.Total(), res.Pack, res.PackageHash)
	rep, _ := doctor.Run(ctx, doctor.Options{Engine: eng, Project: "ragflow", Target: spec.Target, Lang: "zh-CN"})
	fmt.Println(rep.Verdict) // ok, warn or fail; rep.Checks say why
}
