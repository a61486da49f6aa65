package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dockpack/dockpack/backup/storage"
)

// Open reads the object under key from offset; length < 0 reads to its end.
func (b *Backend) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := b.checkKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("s3 open %s/%s: negative offset %d", b.Location(), key, offset)
	}
	if length == 0 {
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &s3.GetObjectInput{Bucket: &b.o.Bucket, Key: aws.String(b.full(key))}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		if isCode(err, "InvalidRange") {
			// The offset is at or past the end: nothing to read there.
			if info, serr := b.Stat(ctx, key); serr == nil && offset >= info.Size {
				return io.NopCloser(bytes.NewReader(nil)), nil
			}
		}
		return nil, b.mapErr("reading", key, err)
	}
	return &reader{rc: out.Body, b: b, key: key}, nil
}

// reader maps the body's errors (a dropped connection mid-read) to storage errors.
type reader struct {
	rc  io.ReadCloser
	b   *Backend
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.b.mapErr("reading", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.rc.Close() }

// Stat describes the object under key, with its user metadata.
func (b *Backend) Stat(ctx context.Context, key string) (storage.Info, error) {
	if err := b.checkKey(key); err != nil {
		return storage.Info{}, err
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.o.Bucket, Key: aws.String(b.full(key))})
	if err != nil {
		return storage.Info{}, b.mapErr("stat", key, err)
	}
	return storage.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified), Meta: out.Metadata}, nil
}

// List calls fn for every object under prefix, in lexical order of keys
// (S3 lists in the byte order of UTF-8 keys, as Go compares strings). The
// backend's own objects (upload markers, claims) are not listed.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	return b.list(ctx, prefix, func(key string, info storage.Info) error {
		if strings.HasPrefix(key, internalPrefix) {
			return nil
		}
		return fn(info)
	})
}

// list lists every object under prefix, the backend's own included.
func (b *Backend) list(ctx context.Context, prefix string, fn func(key string, info storage.Info) error) error {
	if strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "\\") {
		return fmt.Errorf("%w: list prefix %q", storage.ErrInvalidKey, prefix)
	}
	full := b.full(prefix)
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.o.Bucket, Prefix: aws.String(full)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.mapErr("listing", prefix, err)
		}
		for _, obj := range page.Contents {
			key := b.rel(aws.ToString(obj.Key))
			info := storage.Info{Key: key, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified)}
			if err := fn(key, info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove deletes the object under key; a missing one is not an error.
func (b *Backend) Remove(ctx context.Context, key string) error {
	if err := b.checkKey(key); err != nil {
		return err
	}
	return b.remove(ctx, key)
}

func (b *Backend) remove(ctx context.Context, key string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.o.Bucket, Key: aws.String(b.full(key))})
	if err != nil && !isCode(err, "NoSuchKey", "NotFound") {
		return b.mapErr("removing", key, err)
	}
	return nil
}
