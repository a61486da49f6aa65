package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dockpack/dockpack/backup/storage"
)

// The exclusive create's fallback, for services that do not honour
// If-None-Match: * (or when Options.Exclusive forces it): write, wait,
// list, lowest wins.
//
//  1. The writer PUTs a small claim object under
//     .dockpack-s3/claims/<hash of the key>/<random>; a claim whose PUT
//     took longer than ClaimWait/3 is withdrawn and made again.
//  2. It waits ClaimWait (≥ 2 s).
//  3. It lists the key's claims. Claims older than its own by more than
//     ClaimTTL are dead writers' and ignored (and removed). The lowest by
//     (the service's LastModified, name) wins; every other writer gets
//     storage.ErrExists.
//  4. The winner checks the key is still free (a previous winner may have
//     completed and withdrawn its claim) and writes it without a
//     condition; then it withdraws its claim.
//
// Why it holds: a claim that writer A did not see when it listed was
// written after A's listing began, so it started at least ClaimWait −
// ClaimWait/3 after A's claim was stored: its LastModified (one-second
// resolution on some services) is later than A's, and every writer that
// sees both agrees A's is lower. Claims are withdrawn only after the key
// is written, so a late writer finds either a lower live claim or the key.
// The service's clock orders the claims; the writers' clocks do not
// matter. A writer that dies between winning and writing leaves its claim
// until ClaimTTL, during which exclusive creates of that key report
// ErrExists (for a lease: the lease looks held).

// exclusively runs do (which writes u's object) so that it fails with
// storage.ErrExists when the key exists, if u is exclusive.
func (b *Backend) exclusively(ctx context.Context, u *upload, do func(ifNoneMatch bool) error) error {
	if !u.opts.Exclusive {
		return do(false)
	}
	cond, err := b.ConditionalWrites(ctx)
	if err != nil {
		return err
	}
	if cond {
		return do(true)
	}
	return b.claimed(ctx, u.key, func() error {
		if _, err := b.Stat(ctx, u.key); err == nil {
			return fmt.Errorf("s3 create %s/%s: %w", b.Location(), u.key, storage.ErrExists)
		} else if !errors.Is(err, storage.ErrNotExist) {
			return err
		}
		return do(false)
	})
}

// ConditionalWrites reports whether exclusive creates use If-None-Match: *
// — by the options, or (auto) by a probe made once: a PUT and a completed
// multipart upload onto an existing probe object must both be refused.
func (b *Backend) ConditionalWrites(ctx context.Context) (bool, error) {
	switch b.o.Exclusive {
	case ExclusiveConditional:
		return true, nil
	case ExclusiveFallback:
		return false, nil
	}
	b.condMu.Lock()
	defer b.condMu.Unlock()
	if b.condKnown {
		return b.condOK, nil
	}
	ok, err := b.probeConditional(ctx)
	if err != nil {
		return false, err
	}
	b.condKnown, b.condOK = true, ok
	if !ok {
		b.o.Logger.Sugar().Infow("s3: the service does not honour If-None-Match; exclusive creates use the fallback (write, wait, list, lowest wins)", "target", b.Location())
	}
	return ok, nil
}

func (b *Backend) probeConditional(ctx context.Context) (bool, error) {
	key := internalPrefix + "probe/" + newNonce()
	defer func() {
		cctx, cancel := bgCtx(ctx)
		defer cancel()
		_ = b.remove(cctx, key)
	}()
	if err := b.putBytes(ctx, key, []byte("1"), nil, true); err != nil {
		if isCode(err, "NotImplemented", "InvalidArgument", "InvalidRequest") {
			return false, nil
		}
		return false, err
	}
	err := b.putBytes(ctx, key, []byte("2"), nil, true)
	if err == nil {
		return false, nil // ignored: the object was replaced
	}
	if !errors.Is(err, storage.ErrExists) {
		return false, err
	}
	return b.probeConditionalComplete(ctx, key)
}

// probeConditionalComplete: a multipart upload completed with
// If-None-Match onto the existing key must be refused too.
func (b *Backend) probeConditionalComplete(ctx context.Context, key string) (bool, error) {
	mp := &multipart{key: key, full: b.full(key)}
	out, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.o.Bucket, Key: &mp.full})
	if err != nil {
		return false, b.mapErr("probing conditional writes on", key, err)
	}
	mp.id = aws.ToString(out.UploadId)
	defer func() {
		cctx, cancel := bgCtx(ctx)
		defer cancel()
		_, _ = b.client.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{Bucket: &b.o.Bucket, Key: &mp.full, UploadId: &mp.id})
	}()
	part, err := b.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b.o.Bucket, Key: &mp.full, UploadId: &mp.id, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("3"))})
	if err != nil {
		return false, b.mapErr("probing conditional writes on", key, err)
	}
	mp.parts = []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}
	_, err = b.client.CompleteMultipartUpload(ctx, b.completeInput(mp, true))
	switch {
	case err == nil:
		return false, nil
	case errors.Is(classify(err), storage.ErrExists):
		return true, nil
	case isCode(err, "NotImplemented", "InvalidArgument", "InvalidRequest"):
		return false, nil
	}
	return false, b.mapErr("probing conditional writes on", key, err)
}

// claim is one writer's claim on a key.
type claim struct {
	key string
	mod time.Time
}

// claimed runs do if this writer wins the key's claims, and returns
// storage.ErrExists if another does.
func (b *Backend) claimed(ctx context.Context, key string, do func() error) error {
	sum := sha256.Sum256([]byte(key))
	dir := internalPrefix + "claims/" + hex.EncodeToString(sum[:16]) + "/"
	var mine string
	for attempt := 0; ; attempt++ {
		mine = dir + newNonce()
		start := time.Now()
		err := b.putBytes(ctx, mine, []byte(b.o.Owner), nil, false)
		if err == nil && time.Since(start) <= b.o.ClaimWait/3 {
			break
		}
		b.withdraw(ctx, mine)
		if err != nil {
			return err
		}
		if attempt == 2 {
			return fmt.Errorf("s3 create %s/%s: %w: writing a claim took longer than %s three times", b.Location(), key, storage.ErrUnavailable, b.o.ClaimWait/3)
		}
	}
	defer b.withdraw(ctx, mine)
	select {
	case <-time.After(b.o.ClaimWait):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	var claims []claim
	err := b.list(ctx, dir, func(k string, info storage.Info) error {
		claims = append(claims, claim{key: k, mod: info.ModTime})
		return nil
	})
	if err != nil {
		return err
	}
	winner, err := b.lowestClaim(ctx, claims, mine)
	if err != nil {
		return err
	}
	if winner != mine {
		return fmt.Errorf("s3 create %s/%s: %w (another writer's claim is first)", b.Location(), key, storage.ErrExists)
	}
	return do()
}

// lowestClaim is the winning claim, dead writers' claims left out (and removed).
func (b *Backend) lowestClaim(ctx context.Context, claims []claim, mine string) (string, error) {
	var own *claim
	for i := range claims {
		if claims[i].key == mine {
			own = &claims[i]
		}
	}
	if own == nil {
		return "", fmt.Errorf("s3 %s: our claim %s is not listed", b.Location(), mine)
	}
	live := claims[:0:0]
	for _, c := range claims {
		if c.mod.Before(own.mod.Add(-b.o.ClaimTTL)) {
			b.withdraw(ctx, c.key)
			continue
		}
		live = append(live, c)
	}
	sort.Slice(live, func(i, j int) bool {
		if !live[i].mod.Equal(live[j].mod) {
			return live[i].mod.Before(live[j].mod)
		}
		return live[i].key < live[j].key
	})
	return live[0].key, nil
}

// withdraw removes a claim (best effort: a leftover claim expires).
func (b *Backend) withdraw(ctx context.Context, key string) {
	cctx, cancel := bgCtx(ctx)
	defer cancel()
	_ = b.remove(cctx, key)
}

// complete completes u's multipart upload (exclusively if u is) and checks
// the composite checksum the service returns.
func (b *Backend) complete(ctx context.Context, u *upload, mp *multipart) error {
	return b.exclusively(ctx, u, func(ifNoneMatch bool) error {
		u.state = completeFailed // from here on the object may exist
		out, err := b.client.CompleteMultipartUpload(ctx, b.completeInput(mp, ifNoneMatch))
		if err != nil {
			return b.mapErr("completing the upload of", mp.key, err)
		}
		return b.checkComposite(mp.key, mp.parts, out.ChecksumCRC32C, out.ChecksumSHA256)
	})
}

// putExclusiveAware PUTs u's whole object (exclusively if u is).
func (b *Backend) putExclusiveAware(ctx context.Context, u *upload, data []byte) error {
	return b.exclusively(ctx, u, func(ifNoneMatch bool) error {
		u.state = completeFailed
		return b.putBytes(ctx, u.key, data, u.meta, ifNoneMatch)
	})
}
