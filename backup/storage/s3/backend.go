// Package s3 is storage.Backend over S3-compatible object storage (AWS S3,
// MinIO, Ceph RGW, versitygw, …) with aws-sdk-go-v2.
//
// Writes stream: Create returns an upload that buffers one part (8 MiB by
// default) and sends each full part as a multipart upload's part while the
// caller keeps writing, so a multi-gigabyte stream goes up without local
// staging and with bounded memory: the part buffers of all the backend's
// uploads share one budget (Options.Memory, budget.go) and are recycled.
// An object smaller than a part is one PUT at Commit.
// Every part carries Content-MD5 and a flexible checksum (CRC32C by
// default), which the service checks; the checksums it returns, and the
// completed upload's composite checksum, are compared with ours.
//
// Commit completes the upload — the object appears whole, at once — and
// Abort, a canceled ctx or an error aborts it. A crash leaves an upload in
// progress: each one has a marker object under the target's internal
// prefix (.dockpack-s3/uploads/) naming its key, its upload id and its
// owner (S3 does not show an upload's metadata before it completes), and
// AbortStale aborts those whose owner is dead.
//
// Exclusive creates send If-None-Match: * where the service honours it
// (probed once), and otherwise take the fallback in claim.go.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dockpack/dockpack/backup/storage"
)

// internalPrefix holds what the backend keeps for itself under the target:
// upload markers, fallback claims, probes. List never shows it.
const internalPrefix = ".dockpack-s3/"

// Backend is one S3 target: a bucket and a prefix.
type Backend struct {
	o      Options
	client *s3.Client
	// transport is the HTTP transport in use (for Close).
	transport atomic.Pointer[http.Transport]
	endpoint  string
	// slots bounds the parts in flight of all the backend's uploads.
	slots chan struct{}
	// mem holds and recycles the part buffers of all its uploads (budget.go).
	mem *budget

	// What ConditionalWrites found (probed once, in auto mode).
	condMu    sync.Mutex
	condKnown bool
	condOK    bool
}

var _ storage.Backend = (*Backend)(nil)

// Open opens the target described by o. It makes no request: Check (or
// Probe) says whether the bucket answers.
func Open(ctx context.Context, o Options) (*Backend, error) {
	o.applyDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("s3 target: %w", err)
	}
	b := &Backend{o: o, slots: make(chan struct{}, o.Concurrency)}
	// No response header timeout: completing a large upload can take
	// minutes on some services; the caller's ctx bounds every request.
	// (A BuildableClient: the configuration adds AWS_CA_BUNDLE to it.)
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = o.Concurrency + 4
		b.transport.Store(tr)
	})
	loads := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithRetryMaxAttempts(o.RetryMaxAttempts),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithDefaultRegion(DefaultRegion),
	}
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(o.Profile))
	}
	if o.CredentialsFile != "" {
		loads = append(loads, config.WithSharedCredentialsFiles([]string{o.CredentialsFile}))
	}
	if o.AccessKeyID != "" {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)))
	}
	if o.Endpoint != "" {
		loads = append(loads, config.WithBaseEndpoint(o.Endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("s3 target s3://%s: loading the AWS configuration: %w", o.Bucket, err)
	}
	var endpoint string
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" { // the explicit endpoint wins over AWS_ENDPOINT_URL_S3
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		endpoint = aws.ToString(so.BaseEndpoint)
		so.UsePathStyle = endpoint != ""
		if o.PathStyle != nil {
			so.UsePathStyle = *o.PathStyle
		}
	})
	b.client, b.endpoint = client, endpoint
	b.mem = newBudget(o.Memory, o.PartSize)
	return b, nil
}

// Location is "s3://bucket/prefix" (never the endpoint's user info nor a
// secret).
func (b *Backend) Location() string {
	return storage.Target{Kind: storage.KindS3, Bucket: b.o.Bucket, Prefix: b.o.Prefix}.String()
}

// Endpoint is the service's endpoint URL ("" for AWS's own), without user info.
func (b *Backend) Endpoint() string {
	if b.endpoint == "" {
		return ""
	}
	return redactEndpoint(b.endpoint)
}

// Options returns the backend's options after defaults.
func (b *Backend) Options() Options { return b.o }

// Close releases idle connections.
func (b *Backend) Close() error {
	if tr := b.transport.Load(); tr != nil {
		tr.CloseIdleConnections()
	}
	return nil
}

// Check asks whether the bucket is there and the credentials reach it.
func (b *Backend) Check(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.o.Bucket})
	if errors.Is(classify(err), storage.ErrNotExist) {
		return fmt.Errorf("s3 checking the bucket of %s: %w", b.Location(), ErrNoBucket)
	}
	if err != nil {
		return b.mapErr("checking the bucket", "", err)
	}
	return nil
}

// full is the object key of a backend key.
func (b *Backend) full(key string) string {
	if b.o.Prefix == "" {
		return key
	}
	return b.o.Prefix + "/" + key
}

// rel is the backend key of an object key under the prefix.
func (b *Backend) rel(full string) string {
	if b.o.Prefix == "" {
		return full
	}
	return strings.TrimPrefix(full, b.o.Prefix+"/")
}

func (b *Backend) checkKey(key string) error {
	if !storage.ValidKey(key) || strings.HasPrefix(key, internalPrefix) {
		return fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	return nil
}

// ownerMeta is o.Meta with the owner added.
func (b *Backend) ownerMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	if b.o.Owner != "" {
		out[MetaOwner] = b.o.Owner
	}
	return out
}

// acquire takes a part slot (ctx bounds the wait).
func (b *Backend) acquire(ctx context.Context) error {
	select {
	case b.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (b *Backend) release() { <-b.slots }

// bgCtx is the context of cleanup after a canceled ctx: not canceled with
// it, but bounded.
func bgCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}

// errClosed: a write to an upload that was committed or aborted.
var errClosed = errors.New("s3 upload already committed or aborted")
