package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dockpack/dockpack/backup/storage"
)

// multipart is a multipart upload in progress.
type multipart struct {
	key, full string
	id        string
	marker    string // the marker object's key
	next      int32  // the next part number
	parts     []types.CompletedPart
	// cutOff: a part's request failed after it may have reached the
	// service (canceled, timed out, connection lost). Such a part can still
	// land after the upload is aborted and bring the upload back (S3: "it
	// might be necessary to abort a given multipart upload multiple
	// times"), so abortMultipart then watches it settle.
	cutOff atomic.Bool
}

// marker is what an upload's marker object holds: enough for AbortStale to
// find the upload and judge its owner.
type marker struct {
	Key      string    `json:"key"`
	UploadID string    `json:"upload_id,omitempty"`
	Owner    string    `json:"owner"`
	Started  time.Time `json:"started"`
}

const markerPrefix = internalPrefix + "uploads/"

// putRetries bounds the attempts of one PutObject that meets a parent
// directory removed under it (putBytes).
const putRetries = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startMultipart writes the upload's marker, creates the upload, and
// writes the marker again with its id: a crash at any point leaves a
// marker AbortStale can follow.
func (b *Backend) startMultipart(ctx context.Context, key string, meta map[string]string, exclusive bool) (*multipart, error) {
	mp := &multipart{key: key, full: b.full(key), marker: markerPrefix + newNonce(), next: 1}
	m := marker{Key: key, Owner: b.o.Owner, Started: time.Now().UTC()}
	if err := b.putMarker(ctx, mp.marker, m); err != nil {
		return nil, err
	}
	in := &s3.CreateMultipartUploadInput{Bucket: &b.o.Bucket, Key: &mp.full, Metadata: meta}
	switch b.o.Checksum {
	case ChecksumCRC32C:
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	case ChecksumSHA256:
		in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
	}
	out, err := b.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		cctx, cancel := bgCtx(ctx)
		defer cancel()
		_ = b.remove(cctx, mp.marker)
		return nil, b.mapErr("starting the upload of", key, err)
	}
	mp.id = aws.ToString(out.UploadId)
	m.UploadID = mp.id
	if err := b.putMarker(ctx, mp.marker, m); err != nil {
		cctx, cancel := bgCtx(ctx)
		defer cancel()
		_ = b.abortMultipart(cctx, mp)
		return nil, err
	}
	return mp, nil
}

func (b *Backend) putMarker(ctx context.Context, key string, m marker) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return b.putBytes(ctx, key, data, nil, false)
}

// dropMarker removes the marker of a finished upload (best effort: a
// leftover marker of a finished upload is removed by AbortStale).
func (b *Backend) dropMarker(ctx context.Context, mp *multipart) {
	cctx, cancel := bgCtx(ctx)
	defer cancel()
	if err := b.remove(cctx, mp.marker); err != nil {
		b.o.Logger.Sugar().Warnw("s3: upload marker left behind", "target", b.Location(), "key", mp.key, "error", err)
	}
}

// abortMultipart aborts the upload and removes its marker. When a part's
// request was cut off, the upload is watched for Options.AbortSettle after
// the abort and aborted again each time a late part brings it back; the
// marker goes last, so whatever still escapes is AbortStale's to find.
func (b *Backend) abortMultipart(ctx context.Context, mp *multipart) error {
	if err := b.abortUpload(ctx, mp); err != nil {
		return err
	}
	if mp.cutOff.Load() {
		if err := b.settleAbort(ctx, mp); err != nil {
			return err
		}
	}
	return b.remove(ctx, mp.marker)
}

func (b *Backend) abortUpload(ctx context.Context, mp *multipart) error {
	_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.o.Bucket, Key: &mp.full, UploadId: &mp.id})
	if err != nil && !isCode(err, "NoSuchUpload", "NotFound") {
		return b.mapErr("aborting the upload of", mp.key, err)
	}
	return nil
}

// answered reports whether err carries the service's answer (a part the
// service refused will not land later).
func answered(err error) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() != 0
}

// settlePoll is how often settleAbort looks for the aborted upload.
const settlePoll = 100 * time.Millisecond

// settleAbort watches an aborted upload until it has stayed gone for
// Options.AbortSettle, aborting it again whenever it is back.
func (b *Backend) settleAbort(ctx context.Context, mp *multipart) error {
	for quiet := time.Now().Add(b.o.AbortSettle); time.Now().Before(quiet); {
		select {
		case <-ctx.Done():
			return b.mapErr("aborting the upload of", mp.key, context.Cause(ctx))
		case <-time.After(settlePoll):
		}
		back, err := b.uploadListed(ctx, mp)
		if err != nil {
			return err
		}
		if back {
			b.o.Logger.Sugar().Debugw("s3: a late part brought an aborted upload back; aborting it again", "target", b.Location(), "key", mp.key)
			if err := b.abortUpload(ctx, mp); err != nil {
				return err
			}
			quiet = time.Now().Add(b.o.AbortSettle)
		}
	}
	return nil
}

// uploadListed reports whether the service lists the upload in progress.
func (b *Backend) uploadListed(ctx context.Context, mp *multipart) (bool, error) {
	p := s3.NewListMultipartUploadsPaginator(b.client, &s3.ListMultipartUploadsInput{Bucket: &b.o.Bucket, Prefix: &mp.full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, b.mapErr("listing the uploads of", mp.key, err)
		}
		for _, u := range page.Uploads {
			if aws.ToString(u.UploadId) == mp.id {
				return true, nil
			}
		}
	}
	return false, nil
}

// sums are the checksums of one part or object.
type sums struct {
	md5  []byte
	flex []byte // crc32c or sha256, raw
}

func (b *Backend) checksum(data []byte) sums {
	m := md5.Sum(data)
	s := sums{md5: m[:]}
	switch b.o.Checksum {
	case ChecksumCRC32C:
		s.flex = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, castagnoli))
	case ChecksumSHA256:
		h := sha256.Sum256(data)
		s.flex = h[:]
	}
	return s
}

// flexFields returns the input fields of our flexible checksum.
func (b *Backend) flex(s sums) (crc, sha *string) {
	if s.flex == nil {
		return nil, nil
	}
	v := aws.String(base64.StdEncoding.EncodeToString(s.flex))
	if b.o.Checksum == ChecksumSHA256 {
		return nil, v
	}
	return v, nil
}

// checkReturned compares the checksum the service returned (if it did)
// with ours.
func (b *Backend) checkReturned(key string, s sums, crc, sha *string) error {
	want, got := "", ""
	switch b.o.Checksum {
	case ChecksumCRC32C:
		got = aws.ToString(crc)
	case ChecksumSHA256:
		got = aws.ToString(sha)
	}
	if got == "" || s.flex == nil {
		return nil
	}
	want = base64.StdEncoding.EncodeToString(s.flex)
	if got != want {
		return fmt.Errorf("s3 %s/%s: %w: the service stored %s %s, we sent %s", b.Location(), key, ErrChecksum, b.o.Checksum, got, want)
	}
	return nil
}

// unsigned sends the payload unsigned: its integrity is the Content-MD5
// and flexible checksum headers, which are signed and which the service
// checks, so the body is not hashed a third time for the signature.
var unsigned = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// uploadPart sends one part with its checksums and checks what the
// service says it stored.
func (b *Backend) uploadPart(ctx context.Context, mp *multipart, num int32, data []byte) (types.CompletedPart, error) {
	s := b.checksum(data)
	crc, sha := b.flex(s)
	out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &b.o.Bucket, Key: &mp.full, UploadId: &mp.id, PartNumber: aws.Int32(num),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(s.md5)), ChecksumCRC32C: crc, ChecksumSHA256: sha,
	}, unsigned)
	if err != nil {
		if !answered(err) {
			mp.cutOff.Store(true) // it may still land: see abortMultipart
		}
		return types.CompletedPart{}, b.mapErr(fmt.Sprintf("uploading part %d of", num), mp.key, err)
	}
	if err := b.checkReturned(mp.key, s, out.ChecksumCRC32C, out.ChecksumSHA256); err != nil {
		return types.CompletedPart{}, err
	}
	if err := b.checkETag(mp.key, s, out.ETag); err != nil {
		return types.CompletedPart{}, err
	}
	return types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32C: crc, ChecksumSHA256: sha}, nil
}

// checkETag compares, in md5 mode (no flexible checksum to compare), the
// part's or object's ETag with its MD5 — which it is on every service
// without SSE-KMS or SSE-C (documented with ChecksumMD5Only).
func (b *Backend) checkETag(key string, s sums, etag *string) error {
	if b.o.Checksum != ChecksumMD5Only {
		return nil
	}
	got := strings.Trim(aws.ToString(etag), `"`)
	if want := hex.EncodeToString(s.md5); got != want {
		return fmt.Errorf("s3 %s/%s: %w: ETag %s, MD5 %s", b.Location(), key, ErrChecksum, got, want)
	}
	return nil
}

// completeInput is the completion of mp, with If-None-Match when asked.
func (b *Backend) completeInput(mp *multipart, ifNoneMatch bool) *s3.CompleteMultipartUploadInput {
	in := &s3.CompleteMultipartUploadInput{
		Bucket: &b.o.Bucket, Key: &mp.full, UploadId: &mp.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: mp.parts},
	}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	return in
}

// compositeSum is the checksum of a completed multipart upload: the
// checksum of the parts' checksums, "-" and the number of parts.
func (b *Backend) compositeSum(parts []types.CompletedPart) string {
	var h hash.Hash
	switch b.o.Checksum {
	case ChecksumCRC32C:
		h = crc32.New(castagnoli)
	case ChecksumSHA256:
		h = sha256.New()
	default:
		return ""
	}
	for _, p := range parts {
		v := p.ChecksumCRC32C
		if b.o.Checksum == ChecksumSHA256 {
			v = p.ChecksumSHA256
		}
		raw, _ := base64.StdEncoding.DecodeString(aws.ToString(v))
		h.Write(raw)
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), len(parts))
}

// checkComposite compares the completed upload's checksum, when the
// service returned a composite one, with ours.
func (b *Backend) checkComposite(key string, parts []types.CompletedPart, crc, sha *string) error {
	got := aws.ToString(crc)
	if b.o.Checksum == ChecksumSHA256 {
		got = aws.ToString(sha)
	}
	if !strings.Contains(got, "-") {
		return nil // none, or a full-object checksum (checked part by part already)
	}
	if want := b.compositeSum(parts); got != want {
		return fmt.Errorf("s3 %s/%s: %w: the completed upload's checksum is %s, its parts make %s", b.Location(), key, ErrChecksum, got, want)
	}
	return nil
}

// putBytes PUTs a whole object (the backend's key space, internal keys
// allowed) with its checksums.
func (b *Backend) putBytes(ctx context.Context, key string, data []byte, meta map[string]string, ifNoneMatch bool) error {
	s := b.checksum(data)
	crc, sha := b.flex(s)
	in := &s3.PutObjectInput{
		Bucket: &b.o.Bucket, Key: aws.String(b.full(key)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(s.md5)), ChecksumCRC32C: crc, ChecksumSHA256: sha, Metadata: meta,
	}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := b.client.PutObject(ctx, in, unsigned)
	// A directory-backed service (versitygw's posix backend) answers
	// ExistingObjectIsDirectory when another request removed the object's
	// emptied parent directory at that instant (the upload markers'
	// directory is emptied and refilled all the time): that put is retried.
	for try := 1; err != nil && try < putRetries && isCode(err, "ExistingObjectIsDirectory"); try++ {
		select {
		case <-ctx.Done():
			return b.mapErr("writing", key, context.Cause(ctx))
		case <-time.After(time.Duration(try) * 50 * time.Millisecond):
		}
		in.Body = bytes.NewReader(data)
		out, err = b.client.PutObject(ctx, in, unsigned)
	}
	if err != nil {
		return b.mapErr("writing", key, err)
	}
	if err := b.checkETag(key, s, out.ETag); err != nil {
		return err
	}
	return b.checkReturned(key, s, out.ChecksumCRC32C, out.ChecksumSHA256)
}

// removeIfOurs removes key if the object there was made by the upload
// with nonce (a Complete whose answer was lost did happen).
func (b *Backend) removeIfOurs(ctx context.Context, key, nonce string) error {
	info, err := b.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.Meta[metaUpload] != nonce {
		return nil
	}
	return b.remove(ctx, key)
}
