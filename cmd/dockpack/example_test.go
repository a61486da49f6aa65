package main

import (
	"os"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

// `dockpack plan` prints what a backup would hold and whether it would run;
// --lang zh-CN prints the same in Chinese (codes stay as they are).
func Example_plan() {
	plan := &backup.PackPlan{
		Project: "demo", Target: "/mnt/replica/packs", Components: []pack.Component{pack.ComponentVolumes},
		Stack:        dockerapi.Stack{Volumes: []dockerapi.Volume{{Name: "demo_data", Size: 3 << 20, UsedBy: []dockerapi.VolumeUser{{ContainerName: "demo_app_1"}}}}},
		Estimate:     backup.Estimate{Volumes: 3 << 20, VolumeSizes: map[string]int64{"demo_data": 3 << 20}},
		Required:     3 << 20 * 11 / 10,
		TargetReport: mountcheck.Report{MountPoint: "/mnt/replica", FSType: "cifs", Source: "//nas/backup", FreeBytes: 500 << 30},
		Checks:       []check.Check{{Name: "stack", Status: check.OK}, {Name: "target", Status: check.OK}},
	}
	printPlan(os.Stdout, i18n.For("en"), plan, nil, "")
	// Output:
	// plan: project demo → /mnt/replica/packs (components volumes); nothing is written
	//
	// KIND    NAME       SIZE  NOTE
	// ───────────────────────────────────────────
	// volume  demo_data  3MiB  used by demo_app_1
	// ───────────────────────────────────────────
	// total              3MiB
	//
	// target   /mnt/replica/packs on /mnt/replica (cifs from //nas/backup): 500GiB free, the pack needs ~3.3MiB (estimate + 10%)
	//
	// prechecks passed: stack, target
	// → the backup would run.
}
