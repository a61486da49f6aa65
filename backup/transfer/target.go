package transfer

import (
	"context"
	"os"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/targets"
	"github.com/dockpack/dockpack/internal/owner"
)

// A target is a directory on a verified mount or s3://bucket/prefix; the
// functions below do what the daemon does with either, an s3:// one
// through its backend (so: its endpoint, region, profile and credentials
// file).

// ListTarget lists the packs of target.
func ListTarget(ctx context.Context, target string, so s3.Options) ([]pack.Info, error) {
	if !storage.IsS3URL(target) {
		return pack.List(ctx, target)
	}
	b, _, err := targets.Open(ctx, target, targets.Options{S3: so, Owner: owner.NewToken()})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return List(ctx, b)
}

// PruneTarget prunes o.Target: a directory with prune.Run, object storage
// with Prune.
func PruneTarget(ctx context.Context, so s3.Options, o prune.Options) (prune.Result, error) {
	if !storage.IsS3URL(o.Target) {
		return prune.Run(ctx, o)
	}
	b, _, err := targets.Open(ctx, o.Target, targets.Options{S3: so, Owner: owner.NewToken()})
	if err != nil {
		return prune.Result{}, err
	}
	defer b.Close()
	return Prune(ctx, b, o)
}

// FetchPack fetches the pack at loc (s3://…/migration_pack_…) into a new
// directory under staging (every object hashed as it arrives, Fetch); the
// returned cleanup removes it.
func FetchPack(ctx context.Context, loc string, so s3.Options, staging string, log *zap.Logger) (string, func(), error) {
	t, err := storage.ParseTarget(loc)
	if err != nil {
		return "", nil, err
	}
	name := path.Base(t.Prefix)
	t.Prefix = strings.TrimSuffix(path.Dir(t.Prefix), ".")
	t.Prefix = strings.TrimSuffix(t.Prefix, "/")
	b, err := targets.OpenTarget(ctx, t, targets.Options{S3: so, Owner: owner.NewToken()})
	if err != nil {
		return "", nil, err
	}
	defer b.Close()
	dir, err := os.MkdirTemp(staging, "dockpack-fetch-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	p, _, err := Fetch(ctx, b, name, dir, Options{Logger: log})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return p, cleanup, nil
}

// CopyBetween copies o.Pack from the target from to the target to (each
// a directory or s3://, with its own object storage options) with Copy.
func CopyBetween(ctx context.Context, from string, fromS3 s3.Options, to string, toS3 s3.Options, o Options) (Result, error) {
	src, _, err := targets.Open(ctx, from, targets.Options{S3: fromS3, Owner: owner.NewToken()})
	if err != nil {
		return Result{}, err
	}
	defer src.Close()
	dst, _, err := targets.Open(ctx, to, targets.Options{S3: toS3, Owner: owner.NewToken()})
	if err != nil {
		return Result{}, err
	}
	defer dst.Close()
	return Copy(ctx, src, dst, o)
}
