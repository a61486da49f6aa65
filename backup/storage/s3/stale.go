package s3

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dockpack/dockpack/backup/storage"
)

// AbortStale aborts the uploads in progress whose owner dead says is dead
// (the owner recorded in the upload's marker: Options.Owner of the backend
// that started it) and removes their markers; it returns how many uploads
// it aborted. An upload whose marker has no upload id yet (its writer died
// between starting it and recording it) is found by its key: the uploads
// of that key that no marker names are aborted.
func (b *Backend) AbortStale(ctx context.Context, dead func(owner string) bool) (int, error) {
	type found struct {
		key string
		m   marker
	}
	var markers []found
	ids := map[string]bool{}
	err := b.list(ctx, markerPrefix, func(key string, _ storage.Info) error {
		m, err := b.readMarker(ctx, key)
		if errors.Is(err, storage.ErrNotExist) {
			return nil // finished meanwhile
		}
		if err != nil {
			b.o.Logger.Sugar().Warnw("s3: unreadable upload marker skipped", "target", b.Location(), "marker", key, "error", err)
			return nil
		}
		markers = append(markers, found{key, m})
		if m.UploadID != "" {
			ids[m.UploadID] = true
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, f := range markers {
		if !dead(f.m.Owner) {
			continue
		}
		k, err := b.abortMarked(ctx, f.m, ids)
		n += k
		if err == nil {
			err = b.remove(ctx, f.key)
		}
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// abortMarked aborts the upload a dead owner's marker names, or (no id
// yet) the unnamed uploads of its key begun since the marker.
func (b *Backend) abortMarked(ctx context.Context, m marker, named map[string]bool) (int, error) {
	full := b.full(m.Key)
	abort := func(id string) (int, error) {
		_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.o.Bucket, Key: &full, UploadId: &id})
		if isCode(err, "NoSuchUpload", "NotFound") {
			return 0, nil // completed or aborted already
		}
		if err != nil {
			return 0, b.mapErr("aborting a stale upload of", m.Key, err)
		}
		b.o.Logger.Sugar().Infow("s3: stale upload of a dead owner aborted", "target", b.Location(), "key", m.Key)
		return 1, nil
	}
	if m.UploadID != "" {
		return abort(m.UploadID)
	}
	n := 0
	p := s3.NewListMultipartUploadsPaginator(b.client, &s3.ListMultipartUploadsInput{Bucket: &b.o.Bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, b.mapErr("listing the uploads of", m.Key, err)
		}
		for _, up := range page.Uploads {
			id := aws.ToString(up.UploadId)
			if aws.ToString(up.Key) != full || named[id] || aws.ToTime(up.Initiated).Before(m.Started.Add(-time.Minute)) {
				continue
			}
			k, err := abort(id)
			n += k
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (b *Backend) readMarker(ctx context.Context, key string) (marker, error) {
	data, err := b.getBytes(ctx, key, 64<<10)
	if err != nil {
		return marker{}, err
	}
	var m marker
	err = json.Unmarshal(data, &m)
	return m, err
}

// getBytes reads a small object of the backend's key space (internal keys allowed).
func (b *Backend) getBytes(ctx context.Context, key string, max int64) ([]byte, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.o.Bucket, Key: aws.String(b.full(key))})
	if err != nil {
		return nil, b.mapErr("reading", key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, max))
}

// Uploads counts the multipart uploads in progress under the target (any
// owner's, ours included): what tests and the doctor look at.
func (b *Backend) Uploads(ctx context.Context) (int, error) {
	n := 0
	prefix := b.full("")
	p := s3.NewListMultipartUploadsPaginator(b.client, &s3.ListMultipartUploadsInput{Bucket: &b.o.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, b.mapErr("listing the uploads", "", err)
		}
		n += len(page.Uploads)
	}
	return n, nil
}
