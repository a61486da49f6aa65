package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/storage"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]storage.Target{
		"/mnt/replica/packs":              {Kind: storage.KindLocal, Path: "/mnt/replica/packs"},
		"/mnt/replica/packs/":             {Kind: storage.KindLocal, Path: "/mnt/replica/packs"},
		"packs":                           {Kind: storage.KindLocal, Path: "packs"},
		"file:///mnt/x":                   {Kind: storage.KindLocal, Path: "/mnt/x"},
		"s3://backups":                    {Kind: storage.KindS3, Bucket: "backups"},
		"s3://backups/":                   {Kind: storage.KindS3, Bucket: "backups"},
		"s3://backups/site-a/packs":       {Kind: storage.KindS3, Bucket: "backups", Prefix: "site-a/packs"},
		"S3://my.bucket-1/p/":             {Kind: storage.KindS3, Bucket: "my.bucket-1", Prefix: "p"},
		"/srv/packs:with:colons":          {Kind: storage.KindLocal, Path: "/srv/packs:with:colons"},
		"./relative/../packs":             {Kind: storage.KindLocal, Path: "packs"},
		"/data/2026-01-01T00://not-a-url": {Kind: storage.KindLocal, Path: "/data/2026-01-01T00:/not-a-url"},
	} {
		got, err := storage.ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "  ", "s3://", "s3://B", "s3://ab", "s3://-bucket", "s3://bucket-/p", "s3://a..b/p",
		"s3://bucket/a/../b", "s3://bucket/a//b", "s3://AKIA:secret@bucket/p", "s3://bucket/p?endpoint=x", "gs://bucket/p",
		"file://relative", "https://host/bucket"} {
		_, err := storage.ParseTarget(in)
		if !errors.Is(err, storage.ErrInvalidTarget) {
			t.Errorf("ParseTarget(%q): %v, want ErrInvalidTarget", in, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") && !strings.Contains(err.Error(), "secret access key") {
			t.Errorf("ParseTarget(%q) repeats the secret: %v", in, err)
		}
	}
	for s, remote := range map[string]bool{"s3://b/p": true, "S3://b": true, "/mnt/x": false} {
		if storage.IsS3URL(s) != remote {
			t.Errorf("IsS3URL(%q) = %v", s, !remote)
		}
	}
	tg, _ := storage.ParseTarget("s3://backups/site-a/")
	if tg.String() != "s3://backups/site-a" || !tg.IsRemote() {
		t.Errorf("String = %q, IsRemote = %v", tg.String(), tg.IsRemote())
	}
}
