package jobs

import (
	"context"

	"github.com/dockpack/dockpack/backup/pack"
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

// pruneTarget prunes a directory (pack.Prune) or an s3:// target (transfer.Prune).
func pruneTarget(ctx context.Context, so s3.Options, o pack.PruneOptions) (pack.PruneResult, error) {
	if !storage.IsS3URL(o.Target) {
		return pack.Prune(ctx, o)
	}
	b, _, err := targets.Open(ctx, o.Target, targets.Options{S3: so, Owner: owner.NewToken()})
	if err != nil {
		return pack.PruneResult{}, err
	}
	defer b.Close()
	return transfer.Prune(ctx, b, o)
}
