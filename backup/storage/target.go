package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Kinds of target.
const (
	// KindLocal is a local or mounted directory (backup/storage/local).
	KindLocal = "local"
	// KindS3 is a bucket and prefix of S3-compatible object storage
	// (backup/storage/s3).
	KindS3 = "s3"
)

// ErrInvalidTarget: a target that is neither a path nor an s3:// URL.
var ErrInvalidTarget = errors.New("invalid target")

// Target is a parsed target: where packs live. A target is written either
// as a path ("/mnt/replica/packs", "file:///mnt/replica/packs") or as
// "s3://bucket/prefix" (the prefix is optional). Endpoint, region and
// credentials of object storage are never part of the URL: they come from
// the standard AWS variables or files and from flags or configuration
// (backup/storage/s3.Options), so the target can be logged and stored.
type Target struct {
	Kind string // KindLocal or KindS3
	// Path of a local target, cleaned (relative paths stay relative).
	Path string
	// Bucket and Prefix of an object storage target. Prefix is "" or a
	// valid key (ValidKey) without a trailing slash; every object of the
	// target lives under Prefix+"/".
	Bucket, Prefix string
}

// String is the target as written back: the cleaned path, or
// "s3://bucket/prefix".
func (t Target) String() string {
	if t.Kind == KindS3 {
		if t.Prefix == "" {
			return "s3://" + t.Bucket
		}
		return "s3://" + t.Bucket + "/" + t.Prefix
	}
	return t.Path
}

// IsRemote reports whether the target is object storage (no mount to
// verify, no local free space to measure).
func (t Target) IsRemote() bool { return t.Kind == KindS3 }

// IsS3URL reports whether s is written as an s3:// URL (valid or not): the
// check a caller makes to choose between a mount's checks and object
// storage's.
func IsS3URL(s string) bool {
	return len(s) >= 5 && strings.EqualFold(s[:5], "s3://")
}

// ParseTarget parses a target: "s3://bucket[/prefix]", "file://PATH" or a
// plain path. It refuses other schemes, credentials or a query in an s3
// URL, an invalid bucket name and a prefix that is not a valid key.
func ParseTarget(s string) (Target, error) {
	if strings.TrimSpace(s) == "" {
		return Target{}, fmt.Errorf("%w: empty", ErrInvalidTarget)
	}
	if IsS3URL(s) {
		return parseS3(s)
	}
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		if !strings.HasPrefix(rest, "/") {
			return Target{}, fmt.Errorf("%w: %q: a file:// URL needs an absolute path (file:///mnt/packs)", ErrInvalidTarget, s)
		}
		s = rest
	} else if scheme, _, ok := strings.Cut(s, "://"); ok && !strings.Contains(scheme, "/") {
		return Target{}, fmt.Errorf("%w: %q: unknown scheme %q (a target is a path or s3://bucket/prefix)", ErrInvalidTarget, s, scheme)
	}
	if strings.ContainsRune(s, 0) {
		return Target{}, fmt.Errorf("%w: a path with a NUL byte", ErrInvalidTarget)
	}
	return Target{Kind: KindLocal, Path: filepath.Clean(s)}, nil
}

func parseS3(s string) (Target, error) {
	rest := s[5:]
	if strings.ContainsAny(rest, "?#") {
		return Target{}, fmt.Errorf("%w: %q: an s3 target has no query or fragment (endpoint, region and credentials are flags, settings or AWS_* variables)", ErrInvalidTarget, redactURL(s))
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if strings.Contains(bucket, "@") {
		return Target{}, fmt.Errorf("%w: %q: credentials never go in the target URL; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or a credentials file", ErrInvalidTarget, redactURL(s))
	}
	if !validBucket(bucket) {
		return Target{}, fmt.Errorf("%w: %q: bucket name %q: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", ErrInvalidTarget, s, bucket)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" && !ValidKey(prefix) {
		return Target{}, fmt.Errorf("%w: %q: prefix %q is not a clean relative path (no empty, \".\" or \"..\" segment, no backslash)", ErrInvalidTarget, s, prefix)
	}
	return Target{Kind: KindS3, Bucket: bucket, Prefix: prefix}, nil
}

// validBucket follows S3's naming rules (which S3-compatible services
// accept too): 3–63 characters of a-z, 0-9, '.' and '-', beginning and
// ending with a letter or digit, no "..".
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 || strings.Contains(b, "..") {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return true
}

// redactURL drops what stands before an '@' (user info) so an error never
// repeats a secret someone put in a URL.
func redactURL(s string) string {
	rest := s[5:]
	host, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = "***@" + host[i+1:]
	}
	if q := strings.IndexAny(path, "?#"); q >= 0 {
		path = path[:q] + "?***"
	} else if q := strings.IndexAny(host, "?#"); q >= 0 {
		host = host[:q] + "?***"
	}
	if path == "" {
		return s[:5] + host
	}
	return s[:5] + host + "/" + path
}
