package storage_test

import (
	"testing"

	"github.com/dockpack/dockpack/backup/storage"
)

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"manifest.json":                     true,
		"migration_pack_x/volumes/a.tar":    true,
		"blobs/ab/abcdef":                   true,
		".dockpack/config":                  true,
		"":                                  false,
		"/abs":                              false,
		"a//b":                              false,
		"a/./b":                             false,
		"../up":                             false,
		"a/..":                              false,
		"trailing/":                         false,
		`back\slash`:                        false,
		"nul\x00byte":                       false,
		"migration_pack_x/../../etc/passwd": false,
	} {
		if got := storage.ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}
