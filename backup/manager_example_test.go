package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dockpack/dockpack/backup"
)

// Prune keeps the newest packs of a project and never the newest complete one.
func ExamplePrune() {
	target, _ := os.MkdirTemp("", "dockpack-example-")
	defer os.RemoveAll(target)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := 3; i >= 1; i-- {
		examplePack(target, now.Add(-time.Duration(i)*time.Hour))
	}
	res, err := backup.Prune(context.Background(), backup.PruneOptions{Target: target, Project: "demo", Keep: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range res.Deleted {
		fmt.Println("deleted", p.Name)
	}
	for _, p := range res.Kept {
		fmt.Println("kept", p.Name)
	}
	// Output:
	// deleted migration_pack_20250601_090000_000
	// kept migration_pack_20250601_110000_000
	// kept migration_pack_20250601_100000_000
}

func examplePack(target string, created time.Time) {
	dir := filepath.Join(target, backup.PackPrefix+created.Format("20060102_150405")+"_000")
	os.MkdirAll(dir, 0o755)
	m := &backup.Manifest{FormatVersion: backup.FormatVersion, CreatedAt: created, Project: "demo", Contents: []backup.Component{}}
	b, _ := backup.MarshalManifest(m)
	os.WriteFile(filepath.Join(dir, backup.ManifestFile), b, 0o644)
	sum := sha256.Sum256(b)
	os.WriteFile(filepath.Join(dir, backup.SumsFile), backup.FormatSums([]backup.Sum{{SHA256: hex.EncodeToString(sum[:]), Path: backup.ManifestFile}}), 0o644)
}

// ComposeProjectName derives a project name the way compose does.
func ExampleComposeProjectName() {
	fmt.Println(backup.ComposeProjectName("/srv/RagFlow/docker-compose.yml"))
	fmt.Println(backup.ComposeProjectName("/opt/My Stack"))
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
	settings := backup.DefaultSettings()
	settings.TargetLocalDir = filepath.Join(state, "packs")
	settings.RagflowProjectName = "demo"
	release := make(chan struct{})
	m, err := backup.NewManager(ctx, backup.ManagerConfig{
		StateDir: state,
		Engine:   newMgrEngine(), // a *dockerapi.Client in real use
		Settings: settings,
		// A stand-in for backup.Run, which the Manager uses by default.
		Run: func(ctx context.Context, spec backup.Spec, p backup.ProgressFunc) (*backup.Result, error) {
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
	job, _ := m.Start(ctx, backup.JobRequest{})
	fmt.Println(job.Kind, job.Status)
	_, err = m.Start(ctx, backup.JobRequest{})
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
