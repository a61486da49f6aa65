package fsutil_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/internal/fsutil"
)

// A file is written under a temporary name in its directory, fsynced and
// renamed, so readers see the old content or the new one, never a part.
// HashWriter counts and hashes what streams through it.
func ExampleWriteAtomic() {
	dir, _ := os.MkdirTemp("", "fsutil-example-")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "SHA256SUMS")
	var n int64
	var sum string
	err := fsutil.WriteAtomic(context.Background(), p, 0o644, func(w io.Writer) error {
		hw := fsutil.NewHashWriter(w)
		_, err := io.Copy(hw, strings.NewReader("hello\n"))
		n, sum = hw.N(), hw.Sum()
		return err
	})
	fmt.Println(err, n, sum)
	got, size, _ := fsutil.HashFile(context.Background(), p)
	fmt.Println(got == sum, size)
	// Output:
	// <nil> 6 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03
	// true 6
}
