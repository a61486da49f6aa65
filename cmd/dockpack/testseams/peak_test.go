package testseams

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestVMHWM(t *testing.T) {
	n, ok := vmHWM([]byte("Name:\tdockpack\nVmPeak:\t  812345 kB\nVmHWM:\t   31744 kB\nVmRSS:\t   30000 kB\n"))
	if !ok || n != 31744<<10 {
		t.Fatalf("vmHWM = %d, %v; want %d", n, ok, 31744<<10)
	}
	if _, ok := vmHWM([]byte("Name:\tzombie\nState:\tZ\n")); ok {
		t.Fatal("a status without VmHWM gave a figure")
	}
}

func TestWritePeak(t *testing.T) {
	name := filepath.Join(t.TempDir(), "peak")
	t.Setenv(EnvPeakFile, name)
	WritePeak()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n < 1<<20 {
		t.Fatalf("peak file holds %q: want this process's VmHWM (> 1 MiB)", data)
	}
}
