package s3_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
	"github.com/dockpack/dockpack/backup/storage/storagetest"
)

const partSize = s3.MinPartSize

// conformance runs the suite against versitygw with mod applied to every
// backend's options.
func conformance(t *testing.T, srv *s3test.Server, faults bool, mod func(*s3.Options)) {
	bucket := srv.Bucket(t, "conformance")
	var n atomic.Int32
	open := func(t *testing.T, prefix, owner string) *s3.Backend {
		return srv.Backend(t, bucket, prefix, func(o *s3.Options) {
			o.PartSize = partSize
			o.Owner = owner
			mod(o)
		})
	}
	o := storagetest.Options{
		PartSize:  partSize,
		KeepsMeta: true,
		Pending: func(ctx context.Context, b storage.Backend) (int, error) {
			return b.(*s3.Backend).Uploads(ctx)
		},
		Reopen: func(t *testing.T, b storage.Backend, owner string) storage.Backend {
			return open(t, b.(*s3.Backend).Options().Prefix, owner)
		},
	}
	if faults {
		o.WrongCredentials = func(t *testing.T, b storage.Backend) storage.Backend {
			return srv.Backend(t, bucket, b.(*s3.Backend).Options().Prefix, func(o *s3.Options) {
				o.SecretAccessKey = "wrong-" + o.SecretAccessKey
				o.PartSize = partSize
			})
		}
		o.Missing = func(t *testing.T) (storage.Backend, error) {
			return srv.Backend(t, "never-made-"+strings.ToLower(fmt.Sprint(n.Add(1))), "p"), nil
		}
		o.Kill = func(*testing.T) { srv.Kill() }
		o.Resume = func(t *testing.T) { srv.Restart(t) }
	}
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return open(t, fmt.Sprintf("run%d/%s", n.Add(1), strings.ReplaceAll(t.Name(), "/", "_")), "")
	}, o)
}

// TestConformance: the storage conformance suite on a real S3 server,
// conditional writes where the server honours them (auto).
func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	conformance(t, srv, true, func(*s3.Options) {})
}

// TestConformanceFallback: the same with the exclusive-create fallback
// forced (write, wait, list, lowest wins) and SHA-256 part checksums.
func TestConformanceFallback(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	srv := s3test.Start(t)
	conformance(t, srv, false, func(o *s3.Options) {
		o.Exclusive = s3.ExclusiveFallback
		o.ClaimWait = s3.MinClaimWait
		o.Checksum = s3.ChecksumSHA256
	})
}
