package prune_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
)

// Run keeps the newest packs of a project and never the newest complete one.
func ExampleRun() {
	target, _ := os.MkdirTemp("", "dockpack-example-")
	defer os.RemoveAll(target)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := 3; i >= 1; i-- {
		examplePack(target, now.Add(-time.Duration(i)*time.Hour))
	}
	res, err := prune.Run(context.Background(), prune.Options{Target: target, Project: "demo", Keep: 2})
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
	dir := filepath.Join(target, pack.NamePrefix+created.Format("20060102_150405")+"_000")
	os.MkdirAll(dir, 0o755)
	m := &pack.Manifest{FormatVersion: pack.FormatVersion, CreatedAt: created, Project: "demo", Contents: []pack.Component{}}
	b, _ := pack.MarshalManifest(m)
	os.WriteFile(filepath.Join(dir, pack.ManifestFile), b, 0o644)
	sum := sha256.Sum256(b)
	os.WriteFile(filepath.Join(dir, pack.SumsFile), pack.FormatSums([]pack.Sum{{SHA256: hex.EncodeToString(sum[:]), Path: pack.ManifestFile}}), 0o644)
}
