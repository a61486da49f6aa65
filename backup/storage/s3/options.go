package s3

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/storage"
)

// Exclusive says how an exclusive Create (storage.CreateOptions.Exclusive)
// is made.
type Exclusive string

const (
	// ExclusiveAuto uses conditional writes (If-None-Match: *) when the
	// service honours them — found out once, by a probe the first time an
	// exclusive create commits — and the fallback otherwise.
	ExclusiveAuto Exclusive = "auto"
	// ExclusiveConditional always sends If-None-Match: * (and fails on a
	// service that refuses it).
	ExclusiveConditional Exclusive = "conditional"
	// ExclusiveFallback never relies on conditional writes: write, wait,
	// list, lowest wins (see claim.go).
	ExclusiveFallback Exclusive = "fallback"
)

// Checksum is the per-part checksum sent with every part and single PUT
// besides Content-MD5 (which every S3-compatible service checks).
type Checksum string

const (
	// ChecksumCRC32C: x-amz-checksum-crc32c (hardware-fast); the service
	// checks it, returns it and the completed upload's composite one, and
	// both are compared with ours.
	ChecksumCRC32C Checksum = "crc32c"
	// ChecksumSHA256: x-amz-checksum-sha256, likewise.
	ChecksumSHA256 Checksum = "sha256"
	// ChecksumMD5Only: Content-MD5 alone, for services that predate the
	// flexible checksums; each part's and object's ETag is compared with
	// its MD5 (which it is without SSE-KMS or SSE-C).
	ChecksumMD5Only Checksum = "md5"
)

// Defaults (documented in Options).
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	DefaultRegion      = "us-east-1"
	DefaultClaimWait   = 3 * time.Second
	DefaultClaimTTL    = 15 * time.Minute
	DefaultAbortSettle = 3 * time.Second
	MinClaimWait       = 2 * time.Second
	MinPartSize        = 5 << 20
	MaxPartSize        = 5 << 30
	maxParts           = 10000
)

// Options open one S3-compatible target. Everything but Bucket is optional;
// what is empty comes from the standard AWS sources (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_PROFILE, ~/.aws/config and ~/.aws/credentials, and
// the instance's role). Secrets never appear in Location, in errors, in
// logs, nor in String.
type Options struct {
	// Bucket and Prefix: where the target lives (storage.ParseTarget of
	// "s3://bucket/prefix"). Every key is stored under Prefix+"/".
	Bucket, Prefix string
	// Endpoint of an S3-compatible service ("http://127.0.0.1:7070",
	// "https://minio.example:9000"). Default: AWS_ENDPOINT_URL_S3,
	// AWS_ENDPOINT_URL, else AWS S3 itself.
	Endpoint string
	// Region. Default: AWS_REGION / the profile's, else us-east-1 (which
	// S3-compatible services accept).
	Region string
	// Profile in the shared config and credentials files (AWS_PROFILE).
	Profile string
	// CredentialsFile replaces ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE).
	CredentialsFile string
	// AccessKeyID and SecretAccessKey (and SessionToken), when given,
	// replace the credential chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key)
	// rather than in the host name. Default: path style when an endpoint
	// is set (what S3-compatible services expect), virtual-hosted on AWS.
	PathStyle *bool
	// PartSize of multipart uploads. Default 8 MiB (5 MiB to 5 GiB). A
	// CreateOptions.SizeHint raises it so the object fits in 10,000
	// parts; a stream of unknown size doubles it every 1,000 parts.
	PartSize int64
	// Concurrency is how many parts of this backend are in flight at once.
	// Default 4.
	Concurrency int
	// Memory bounds the part buffers of all the backend's uploads together
	// (the part each upload is filling and the parts in flight), in bytes;
	// they are recycled, never left to the garbage collector. Default:
	// $DOCKPACK_S3_MEMORY (MiB), else PartSize × (Concurrency + 1) — 40 MiB.
	// At least two parts. An object whose size hint fits in one part is
	// one PUT from one buffer of its size; while every buffer is held by an
	// upload being filled (none in flight), one more is given beyond the
	// bound rather than wait for ever, so the bound is exceeded by at most a
	// part per upload open at once (a store backup opens two).
	Memory int64
	// Checksum sent with every part (besides Content-MD5). Default crc32c.
	Checksum Checksum
	// Exclusive: how exclusive creates are made. Default: $DOCKPACK_S3_EXCLUSIVE
	// (auto, conditional or fallback: the operator's knob for a service
	// whose conditional writes cannot be trusted, and the tests' way to
	// force the fallback), else ExclusiveAuto.
	Exclusive Exclusive
	// ClaimWait is the fallback's wait between writing a claim and listing
	// the claims (at least 2 s: object times have one-second resolution).
	// Default 3 s. ClaimTTL: a claim older than this is a dead writer's and
	// ignored. Default 15 min.
	ClaimWait, ClaimTTL time.Duration
	// AbortSettle: after aborting an upload whose part request was cut off
	// (a cancel, a timeout, a lost connection), how long the upload must
	// stay gone — a part still on its way can bring it back, and it is
	// aborted again. Default 3 s; between 100 ms and 1 min.
	AbortSettle time.Duration
	// Owner is the identity of whoever writes through this backend (for
	// example owner.Identity as JSON): stored in every object's and
	// upload's metadata, and handed back to AbortStale's dead. Printable
	// ASCII. Default: none (AbortStale then sees "").
	Owner string
	// Logger: zap.NewNop by default. Nothing logged carries a secret.
	Logger *zap.Logger
	// RetryMaxAttempts of each request (the SDK's standard retryer).
	// Default 3.
	RetryMaxAttempts int
}

// EnvExclusive names the variable that sets Options.Exclusive's default.
const EnvExclusive = "DOCKPACK_S3_EXCLUSIVE"

// EnvMemory names the variable that sets Options.Memory's default, in MiB.
const EnvMemory = "DOCKPACK_S3_MEMORY"

// envMemory is $DOCKPACK_S3_MEMORY in bytes (0: unset; -1: not a number,
// which Validate refuses).
func envMemory() int64 {
	v := strings.TrimSpace(os.Getenv(EnvMemory))
	if v == "" {
		return 0
	}
	mib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSuffix(v, "MiB"), "M"), 10, 64)
	if err != nil || mib <= 0 || mib > 1<<20 {
		return -1
	}
	return mib << 20
}

// MetaOwner is the metadata key that holds the owner of an object or upload.
const MetaOwner = "dockpack-owner"

func (o *Options) applyDefaults() {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Memory == 0 {
		o.Memory = envMemory()
	}
	if o.Memory == 0 {
		o.Memory = o.PartSize * int64(o.Concurrency+1)
	}
	if o.Checksum == "" {
		o.Checksum = ChecksumCRC32C
	}
	if o.Exclusive == "" {
		o.Exclusive = Exclusive(os.Getenv(EnvExclusive))
	}
	if o.Exclusive == "" {
		o.Exclusive = ExclusiveAuto
	}
	if o.ClaimWait == 0 {
		o.ClaimWait = DefaultClaimWait
	}
	if o.ClaimTTL == 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.AbortSettle == 0 {
		o.AbortSettle = DefaultAbortSettle
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.RetryMaxAttempts == 0 {
		o.RetryMaxAttempts = 3
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
}

// Validate checks the options (after defaults).
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if t, err := storage.ParseTarget("s3://" + o.Bucket); err != nil || t.Bucket != o.Bucket {
		bad("bucket %q: 3 to 63 lower-case letters, digits, dots and hyphens", o.Bucket)
	}
	if o.Prefix != "" && !storage.ValidKey(o.Prefix) {
		bad("prefix %q is not a clean relative path", o.Prefix)
	}
	if o.Endpoint != "" {
		if u, err := url.Parse(o.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			bad("endpoint %q: an http:// or https:// URL without credentials", redactEndpoint(o.Endpoint))
		}
	}
	if o.PartSize < MinPartSize || o.PartSize > MaxPartSize {
		bad("part size %d: between 5 MiB and 5 GiB", o.PartSize)
	}
	if o.Concurrency < 1 || o.Concurrency > 64 {
		bad("concurrency %d: between 1 and 64", o.Concurrency)
	}
	if o.Memory < 2*o.PartSize {
		bad("memory %d: at least two parts (%d bytes; %s)", o.Memory, 2*o.PartSize, EnvMemory)
	}
	switch o.Checksum {
	case ChecksumCRC32C, ChecksumSHA256, ChecksumMD5Only:
	default:
		bad("checksum %q: crc32c, sha256 or md5", o.Checksum)
	}
	switch o.Exclusive {
	case ExclusiveAuto, ExclusiveConditional, ExclusiveFallback:
	default:
		bad("exclusive %q: auto, conditional or fallback", o.Exclusive)
	}
	if o.ClaimWait < MinClaimWait {
		bad("claim wait %s: at least 2s", o.ClaimWait)
	}
	if o.ClaimTTL < 10*o.ClaimWait {
		bad("claim TTL %s: at least ten claim waits", o.ClaimTTL)
	}
	if o.AbortSettle < settlePoll || o.AbortSettle > time.Minute {
		bad("abort settle %s: between 100ms and 1m", o.AbortSettle)
	}
	if !printableASCII(o.Owner) {
		bad("owner: printable ASCII only")
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		bad("access key id and secret access key go together")
	}
	if o.RetryMaxAttempts < 1 {
		bad("retry max attempts %d: at least 1", o.RetryMaxAttempts)
	}
	return errors.Join(errs...)
}

// String shows the options with every secret replaced by "***".
func (o Options) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "s3://%s", o.Bucket)
	if o.Prefix != "" {
		b.WriteString("/" + o.Prefix)
	}
	if o.Endpoint != "" {
		fmt.Fprintf(&b, " endpoint=%s", redactEndpoint(o.Endpoint))
	}
	if o.Region != "" {
		fmt.Fprintf(&b, " region=%s", o.Region)
	}
	if o.Profile != "" {
		fmt.Fprintf(&b, " profile=%s", o.Profile)
	}
	if o.CredentialsFile != "" {
		fmt.Fprintf(&b, " credentials_file=%s", o.CredentialsFile)
	}
	if o.AccessKeyID != "" {
		b.WriteString(" access_key_id=" + redactKeyID(o.AccessKeyID) + " secret_access_key=***")
	}
	if o.SessionToken != "" {
		b.WriteString(" session_token=***")
	}
	return b.String()
}

// redactKeyID keeps the first four characters of an access key id (enough
// to tell two apart, as AWS's own consoles do).
func redactKeyID(id string) string {
	if len(id) <= 4 {
		return "***"
	}
	return id[:4] + "***"
}

// redactEndpoint drops user info and the query of an endpoint URL.
func redactEndpoint(e string) string {
	u, err := url.Parse(e)
	if err != nil {
		return "(unparsable endpoint)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validMeta checks user metadata: keys of lower-case letters, digits and
// '-', values printable ASCII (what every S3-compatible service keeps as
// given).
func validMeta(m map[string]string) error {
	for k, v := range m {
		if k == "" || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return fmt.Errorf("metadata key %q: lower-case letters, digits and '-'", k)
		}
		if !printableASCII(v) {
			return fmt.Errorf("metadata %q: printable ASCII values only", k)
		}
	}
	return nil
}
