package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/dockpack/dockpack/backup/storage"
)

// Errors of object storage, each wrapping storage.ErrUnavailable (the
// target is not usable as it is), matched with errors.Is.
var (
	// ErrNoBucket: the bucket does not exist.
	ErrNoBucket = fmt.Errorf("%w: no such bucket", storage.ErrUnavailable)
	// ErrAccessDenied: the credentials are refused (unknown key, wrong
	// secret, no permission).
	ErrAccessDenied = fmt.Errorf("%w: access denied", storage.ErrUnavailable)
	// ErrUnreachable: the service does not answer (connection refused or
	// reset, name not found, timeout).
	ErrUnreachable = fmt.Errorf("%w: service unreachable", storage.ErrUnavailable)
	// ErrNoSpace: the service says it has no room for the object.
	ErrNoSpace = errors.New("object storage out of space")
	// ErrChecksum: a checksum the service returned differs from ours.
	ErrChecksum = errors.New("checksum mismatch")
)

// apiCode is the S3 error code of err and its HTTP status ("", 0 if none).
func apiCode(err error) (string, int) {
	var status int
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), status
	}
	return "", status
}

// mapErr wraps err of op on key ("" for the bucket) with the storage error
// it means. The message names the target, never a secret.
func (b *Backend) mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	where := b.Location()
	if key != "" {
		where += "/" + key
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3 %s %s: %w", op, where, err)
	}
	if kind := classify(err); kind != nil {
		return fmt.Errorf("s3 %s %s: %w (%v)", op, where, kind, brief(err))
	}
	return fmt.Errorf("s3 %s %s: %w", op, where, err)
}

// classify says which storage error err is (nil: none of them).
func classify(err error) error {
	code, status := apiCode(err)
	switch code {
	case "NoSuchKey", "NoSuchUpload":
		return storage.ErrNotExist
	case "NotFound":
		if status == http.StatusNotFound {
			return storage.ErrNotExist
		}
	case "NoSuchBucket":
		return ErrNoBucket
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden", "InvalidToken", "ExpiredToken", "AllAccessDisabled":
		return ErrAccessDenied
	case "PreconditionFailed", "ConditionalRequestConflict":
		return storage.ErrExists
	case "EntityTooLarge", "QuotaExceeded", "XMinioStorageFull", "StorageFull":
		return ErrNoSpace
	case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch":
		return ErrChecksum
	}
	switch status {
	case http.StatusForbidden:
		return ErrAccessDenied
	case http.StatusPreconditionFailed:
		return storage.ErrExists
	case http.StatusInsufficientStorage:
		return ErrNoSpace
	}
	if errors.Is(err, syscall.ENOSPC) {
		return ErrNoSpace
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ErrUnreachable
	}
	return nil
}

// brief is the service's own word for err: its code and message, or the
// network error, without the SDK's operation chain.
func brief(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if msg := ae.ErrorMessage(); msg != "" {
			return ae.ErrorCode() + ": " + msg
		}
		return ae.ErrorCode()
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	return err.Error()
}

// isCode reports whether err carries one of the S3 error codes.
func isCode(err error, codes ...string) bool {
	code, _ := apiCode(err)
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}
