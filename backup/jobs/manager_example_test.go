package jobs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/settings"
)

// ComposeProjectName derives a project name the way compose does.
func ExampleComposeProjectName() {
	fmt.Println(settings.ComposeProjectName("/srv/RagFlow/docker-compose.yml"))
	fmt.Println(settings.ComposeProjectName("/opt/My Stack"))
	// Output:
	// ragflow
	// mystack
}

// A Manager runs backups one at a time, records them in its state DB and
// serves their state; a second Start while one runs is refused with the
// running job's id.
func ExampleManager() {
	ctx := context.Background()
	state, _ := os.MkdirTemp("", "dockpack-example-state-")
	defer os.RemoveAll(state)
	settings := settings.Default()
	settings.TargetLocalDir = filepath.Join(state, "packs")
	settings.RagflowProjectName = "demo"
	release := make(chan struct{})
	m, err := jobs.NewManager(ctx, jobs.Config{
		StateDir: state,
		Engine:   backuptest.NewRunningEngine(), // a *dockerapi.Client in real use
		Settings: settings,
		// A stand-in for backup.Run, which the Manager uses by default.
		Run: func(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
			<-release
			return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_x"), Name: "migration_pack_x"}, nil
		},
		DisableScheduler: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close(ctx)
	job, _ := m.Start(ctx, jobs.Request{})
	fmt.Println(job.Kind, job.Status)
	_, err = m.Start(ctx, jobs.Request{})
	fmt.Println(err == nil, err != nil && job.ID > 0)
	close(release)
	events, _ := m.Subscribe(ctx, job.ID)
	for ev := range events {
		if ev.Type == "final" {
			fmt.Println(ev.Job.Status, *ev.Job.PackName)
		}
	}
	// Output:
	// incremental running
	// false true
	// completed migration_pack_x
}
