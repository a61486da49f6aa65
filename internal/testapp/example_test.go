package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// seed writes the same small tree into each directory (test volumes get it
// through `testapp seed DIR`): a file, a symlink to it, a 64 KiB file.
func Example_seed() {
	dir, _ := os.MkdirTemp("", "testapp-example-")
	defer os.RemoveAll(dir)
	if err := seed([]string{dir}); err != nil {
		fmt.Println(err)
		return
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p == dir {
			return nil
		}
		fi, _ := os.Lstat(p)
		rel, _ := filepath.Rel(dir, p)
		fmt.Println(rel, fi.Mode().Type() == fs.ModeSymlink, fi.Size() == 64<<10)
		return nil
	})
	// Output:
	// hello.txt false false
	// link true false
	// sub false false
	// sub/data.bin false true
}
