package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/targets"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/internal/owner"
)

// Packs in object storage (s3://bucket/prefix/migration_pack_…): packs and
// prune read them through the backend; verify and restore fetch the pack
// (a store pack with the bundles it uses) into local staging, verified on
// arrival, and read that copy.

// openRemote opens an s3:// target with the --s3-* flags.
func openRemote(ctx context.Context, target string, so s3.Options) (storage.Backend, error) {
	b, _, err := targets.Open(ctx, target, targets.Options{S3: so, Owner: owner.NewToken()})
	if err != nil {
		return nil, openErr(err)
	}
	return b, nil
}

// fetchRemote fetches the pack at loc (s3://…/migration_pack_…) into a new
// directory under staging and returns its local path and the cleanup that
// removes it.
func fetchRemote(ctx context.Context, g *globals, loc, staging string, so s3.Options) (string, func(), error) {
	target, name, err := splitPack(loc)
	if err != nil {
		return "", nil, err
	}
	b, err := openRemote(ctx, target, so)
	if err != nil {
		return "", nil, err
	}
	defer b.Close()
	dir, err := os.MkdirTemp(staging, "dockpack-fetch-")
	if err != nil {
		return "", nil, fmt.Errorf("local staging for %s: %w", loc, err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	p, res, err := transfer.Fetch(ctx, b, name, dir, transfer.Options{Logger: g.logger})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	g.logger.Info("pack fetched from object storage into local staging", zap.String("pack", loc), zap.String("dir", p),
		zap.Int64("bytes", res.CopiedBytes+res.BundleBytes), zap.Int("bundles", res.Bundles))
	return p, cleanup, nil
}

// fetchErr maps a fetch's failure: a damaged pack in object storage is a
// failed verification (exit 4).
func fetchErr(err error) error {
	if errors.Is(err, transfer.ErrSource) || errors.Is(err, transfer.ErrArrival) {
		return fmt.Errorf("%w: %w", pack.ErrVerify, err)
	}
	return err
}
