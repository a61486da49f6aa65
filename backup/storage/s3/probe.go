package s3

import (
	"bytes"
	"context"
	"fmt"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Probe stages, in order: where a probe stopped (ProbeReport.Stage).
const (
	StageBucket = "bucket" // HeadBucket: the bucket and the credentials
	StageWrite  = "write"  // the probe object could not be written
	StageRead   = "read"   // … read back
	StageDelete = "delete" // … deleted
	StageDone   = "done"
)

// ProbeReport is what Probe found, as far as it got.
type ProbeReport struct {
	Location string // s3://bucket/prefix
	Endpoint string // "" for AWS's own
	Region   string
	// Stage is where the probe stopped: StageDone when all went well.
	Stage string
	// Wrote: the probe object was written, read back equal and deleted.
	Wrote    bool
	Duration time.Duration // of the write, read and delete
	// ClockSkew is the service's clock minus ours (one-second resolution),
	// when SkewKnown.
	ClockSkew time.Duration
	SkewKnown bool
	// Conditional: exclusive creates use If-None-Match (else the
	// fallback); known only after a write probe.
	Conditional, ConditionalKnown bool
	// Uploads in progress under the target; -1 when not counted.
	Uploads int
}

// Probe checks that the target is the one a backup expects: the bucket
// exists and the credentials reach it (HeadBucket, whose Date gives the
// clock skew); with write, a probe object under the backend's internal
// prefix is written, read back, compared and deleted, conditional writes
// are probed, and the uploads in progress counted. It never touches a
// key outside .dockpack-s3/.
func (b *Backend) Probe(ctx context.Context, write bool) (ProbeReport, error) {
	r := ProbeReport{Location: b.Location(), Endpoint: b.Endpoint(), Region: b.client.Options().Region, Stage: StageBucket, Uploads: -1}
	out, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.o.Bucket})
	if err != nil {
		return r, b.Check(ctx) // the same request, its error mapped
	}
	if server, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok {
		if at, ok := awsmiddleware.GetResponseAt(out.ResultMetadata); ok {
			r.ClockSkew, r.SkewKnown = server.Sub(at).Round(time.Second), true
		}
	}
	if !write {
		r.Stage = StageDone
		return r, nil
	}
	start := time.Now()
	key := internalPrefix + "probe/" + newNonce()
	data := []byte("dockpack probe " + key + "\n")
	r.Stage = StageWrite
	if err := b.putBytes(ctx, key, data, b.ownerMeta(nil), false); err != nil {
		return r, err
	}
	r.Stage = StageRead
	got, err := b.getBytes(ctx, key, int64(len(data))+1)
	if err == nil && !bytes.Equal(got, data) {
		err = fmt.Errorf("s3 %s: the probe object read back differs from what was written (%d bytes, wrote %d)", b.Location(), len(got), len(data))
	}
	if err != nil {
		cctx, cancel := bgCtx(ctx)
		defer cancel()
		_ = b.remove(cctx, key)
		return r, err
	}
	r.Stage = StageDelete
	if err := b.remove(ctx, key); err != nil {
		return r, err
	}
	if _, err := b.getBytes(ctx, key, 1); err == nil {
		return r, fmt.Errorf("s3 %s: the probe object is still there after its deletion", b.Location())
	}
	r.Duration, r.Wrote, r.Stage = time.Since(start), true, StageDone
	if cond, err := b.ConditionalWrites(ctx); err == nil {
		r.Conditional, r.ConditionalKnown = cond, true
	}
	if n, err := b.Uploads(ctx); err == nil {
		r.Uploads = n
	}
	return r, nil
}
