package tarcheck_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

// A volume export as CopyFromContainer streams it for a container path
// ".../data" is rebased so that its entries are relative to the volume root,
// then a cut copy of it is rejected.
func Example() {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "data/hello.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6})
	tw.Write([]byte("hello\n"))
	tw.Close()

	var out bytes.Buffer
	sum, err := tarcheck.RebaseTar(context.Background(), bytes.NewReader(in.Bytes()), &out)
	if err != nil {
		fmt.Println("rebase:", err)
		return
	}
	fmt.Printf("input: %d entries, %d file(s), %d content bytes, %d bytes\n", sum.Entries, sum.Files, sum.ContentBytes, sum.Bytes)
	tr := tar.NewReader(&out)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		fmt.Println("output entry:", h.Name)
	}

	_, err = tarcheck.ValidateTar(context.Background(), bytes.NewReader(in.Bytes()[:1024]))
	fmt.Println("cut copy incomplete:", errors.Is(err, tarcheck.ErrIncomplete))
	fmt.Println(err)
	// Output:
	// input: 2 entries, 1 file(s), 6 content bytes, 2560 bytes
	// output entry: ./
	// output entry: hello.txt
	// cut copy incomplete: true
	// tar stream ends inside entry "data/hello.txt" after 1.02 kB (0 of its 6 bytes present): the sender stopped or the file is cut short (truncated) (last complete entry "data/" ends at offset 512, 1024 bytes read)
}
