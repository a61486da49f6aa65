// Package targets opens the storage backend of a target written as a path
// or an s3:// URL (storage.ParseTarget): backup/storage/local for a
// directory, backup/storage/s3 for object storage.
package targets

import (
	"context"
	"fmt"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/storage/s3"
)

// Options are what a target URL does not say.
type Options struct {
	// S3 holds the endpoint, region, credentials and tuning of object
	// storage targets (flags, settings); Bucket and Prefix come from the URL.
	S3 s3.Options
	// Owner identifies the writer: the local backend's temporary names
	// (no '.', '/' or '\') and S3 upload markers carry it.
	Owner string
}

// Open parses target and opens its backend. A local directory must exist;
// it is pinned for as long as the backend is open.
func Open(ctx context.Context, target string, o Options) (storage.Backend, storage.Target, error) {
	t, err := storage.ParseTarget(target)
	if err != nil {
		return nil, t, err
	}
	b, err := OpenTarget(ctx, t, o)
	return b, t, err
}

// OpenTarget opens the backend of a parsed target.
func OpenTarget(ctx context.Context, t storage.Target, o Options) (storage.Backend, error) {
	switch t.Kind {
	case storage.KindLocal:
		return local.Open(ctx, local.Options{Dir: t.Path, Owner: o.Owner})
	case storage.KindS3:
		so := o.S3
		so.Bucket, so.Prefix = t.Bucket, t.Prefix
		if so.Owner == "" {
			so.Owner = o.Owner
		}
		return s3.Open(ctx, so)
	}
	return nil, fmt.Errorf("%w: kind %q", storage.ErrInvalidTarget, t.Kind)
}
