package jobs

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/drill"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/targets"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/internal/owner"
)

// A target setting written s3://bucket/prefix is object storage: its
// endpoint, region, profile and credentials file are settings of their
// own (no secret is one); its packs are listed and pruned through its
// backend (backup/transfer).

// s3Options are the settings' object storage options (empty: the AWS
// variables and files of the daemon's process).
func s3Options(s settings.Settings) s3.Options {
	return s3.Options{Endpoint: s.S3Endpoint, Region: s.S3Region, Profile: s.S3Profile, CredentialsFile: s.S3CredentialsFile}
}

// listS3 lists the packs of an s3:// target.
func listS3(ctx context.Context, target string, so s3.Options) ([]pack.Info, error) {
	b, _, err := targets.Open(ctx, target, targets.Options{S3: so, Owner: owner.NewToken()})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return transfer.List(ctx, b)
}

// listTarget lists the packs of the configured target (a directory or s3://).
func listTarget(ctx context.Context, s settings.Settings) ([]pack.Info, error) {
	if storage.IsS3URL(s.TargetLocalDir) {
		return listS3(ctx, s.TargetLocalDir, s3Options(s))
	}
	return pack.List(ctx, s.TargetLocalDir)
}

// pruneTarget prunes a directory (prune.Run) or an s3:// target (transfer.Prune).
func pruneTarget(ctx context.Context, so s3.Options, o prune.Options) (prune.Result, error) {
	if !storage.IsS3URL(o.Target) {
		return prune.Run(ctx, o)
	}
	b, _, err := targets.Open(ctx, o.Target, targets.Options{S3: so, Owner: owner.NewToken()})
	if err != nil {
		return prune.Result{}, err
	}
	defer b.Close()
	return transfer.Prune(ctx, b, o)
}

// runDrill runs a drill of d's pack: one in object storage is fetched into
// local staging first (every object hashed as it arrives; transfer.Fetch)
// and drilled there, the drill naming the s3:// pack; a fetch that fails
// (a damaged or missing pack, an unreachable service) blocks the drill
// with that error.
func (m *Manager) runDrill(ctx context.Context, d *drill.Drill, o drill.Options) {
	if !storage.IsS3URL(d.BackupPath) {
		drill.Run(ctx, d, o)
		return
	}
	loc := d.BackupPath
	defer func() { d.BackupPath = loc }()
	local, cleanup, ferr := m.fetchS3(ctx, loc)
	if ferr != nil {
		d.BackupPath = filepath.Join(os.TempDir(), "dockpack-unfetched-"+path.Base(loc)) // absent: the drill is blocked
		drill.Run(ctx, d, o)
		c := check.Check{Name: "fetch", Status: check.Blocked, Code: "fetch_failed", Path: loc, Detail: ferr.Error()}
		if errors.Is(ferr, transfer.ErrSource) || errors.Is(ferr, transfer.ErrArrival) {
			c.Status, c.Code = check.Fail, "fetch_verification_failed"
		}
		d.VerificationReport.Checks = append(d.VerificationReport.Checks, c)
		d.VerificationReport.Failed = append(d.VerificationReport.Failed, loc+": "+ferr.Error())
		return
	}
	defer cleanup()
	d.BackupPath = local
	drill.Run(ctx, d, o)
}

// fetchS3 fetches the pack at loc (s3://…/migration_pack_…) into a new
// directory under the staging directory.
func (m *Manager) fetchS3(ctx context.Context, loc string) (string, func(), error) {
	s, err := m.loadSettings(ctx)
	if err != nil {
		return "", nil, err
	}
	t, err := storage.ParseTarget(loc)
	if err != nil {
		return "", nil, err
	}
	name := path.Base(t.Prefix)
	t.Prefix = strings.TrimSuffix(path.Dir(t.Prefix), ".")
	t.Prefix = strings.TrimSuffix(t.Prefix, "/")
	b, err := targets.OpenTarget(ctx, t, targets.Options{S3: s3Options(s), Owner: owner.NewToken()})
	if err != nil {
		return "", nil, err
	}
	defer b.Close()
	dir, err := os.MkdirTemp(m.cfg.StagingDir, "dockpack-fetch-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	p, _, err := transfer.Fetch(ctx, b, name, dir, transfer.Options{Logger: m.log})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return p, cleanup, nil
}
