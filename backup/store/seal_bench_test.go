package store_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/dockpack/dockpack/backup/store"
)

// BenchmarkSealedStore writes 64 MiB of random bytes into a fresh store
// and reads them back, plain and encrypted (HMAC names, each compressed
// chunk sealed; docs/encryption.md §4): CPU and local disk only, no
// engine. Compare the sub-benchmarks' MB/s.
//
//	go test -run '^$' -bench SealedStore -benchtime 3x ./backup/store/
func BenchmarkSealedStore(b *testing.B) {
	data := randBytes(21, 64<<20)
	sealTo, openWith := ageKeys(b)
	for _, sealed := range []bool{false, true} {
		name := "plain"
		if sealed {
			name = "sealed"
		}
		open := func(b *testing.B) *store.Store {
			o := store.Options{Create: true}
			if sealed {
				o.Seal, o.NamingKeyFile = sealTo, filepath.Join(b.TempDir(), "naming.json")
			}
			s, err := store.Open(context.Background(), backend(b, b.TempDir()), o)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		b.Run(name+"/write", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for range b.N {
				s := open(b)
				benchWrite(b, s, data)
				s.Close()
			}
		})
		b.Run(name+"/read", func(b *testing.B) {
			s := open(b)
			defer s.Close()
			res := benchWrite(b, s, data)
			if err := s.Unseal(context.Background(), openWith, nil); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				if n, err := io.Copy(io.Discard, s.OpenFile(context.Background(), res.Chunks)); err != nil || n != int64(len(data)) {
					b.Fatalf("read %d: %v", n, err)
				}
			}
		})
	}
}

func benchWrite(b *testing.B, s *store.Store, data []byte) store.FileResult {
	ctx := context.Background()
	if err := s.LoadIndex(ctx); err != nil {
		b.Fatal(err)
	}
	w := s.NewWriter()
	res, err := w.WriteFile(ctx, bytes.NewReader(data))
	if err == nil {
		err = w.Flush(ctx)
	}
	if err != nil {
		b.Fatal(err)
	}
	return res
}
