package i18n

// s3EN holds the messages of object storage targets (s3://bucket/prefix) in English.
var s3EN = map[string]string{
	"check.ev.location":            "location",
	"check.ev.endpoint":            "endpoint",
	"check.ev.region":              "region",
	"check.ev.clock_skew":          "clock skew (service − here)",
	"check.ev.exclusive_create":    "exclusive create",
	"check.ev.uploads_in_progress": "uploads in progress",

	"precheck.s3.invalid":                  "%s is not a usable object storage target",
	"precheck.s3.invalid.fix":              "write the target as s3://bucket/prefix (bucket: lower-case letters, digits, dots and hyphens) and give the endpoint and credentials through AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile, never in the URL",
	"precheck.s3.free_unknown":             "not measured (object storage)",
	"precheck.s3.ok":                       "%[1]s answers at %[2]s: a probe object was written, read back and deleted",
	"precheck.s3.ok_unprobed":              "%[1]s answers at %[2]s (no write probe)",
	"precheck.s3.target_no_bucket":         "the bucket of %[1]s does not exist at %[2]s",
	"precheck.s3.target_no_bucket.fix":     "create the bucket, or correct the bucket name in %[1]s and the endpoint (AWS_ENDPOINT_URL): a backup never creates a bucket by itself",
	"precheck.s3.target_access_denied":     "the credentials are refused for %[1]s at %[2]s",
	"precheck.s3.target_access_denied.fix": "check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile or the credentials file) and that they may list, write, read and delete under %[1]s",
	"precheck.s3.target_unreachable":       "the object storage service for %[1]s does not answer at %[2]s",
	"precheck.s3.target_unreachable.fix":   "check the endpoint (AWS_ENDPOINT_URL), the network and that the service runs, then run doctor again for %[1]s",
	"precheck.s3.target_probe_failed":      "the probe object could not be written, read back and deleted in %[1]s at %[2]s",
	"precheck.s3.target_probe_failed.fix":  "see the error; the credentials must allow writing, reading and deleting under %[1]s, and the service must have room",
	"precheck.s3.clock_skew":               "this host's clock and the object storage service's differ by %[1]s (more than %[2]s): leases shared through the bucket rely on close clocks",
	"precheck.s3.clock_skew.fix":           "synchronise the clock (chrony or systemd-timesyncd) on this host and check the service's",
}

func init() { add(English, s3EN) }
