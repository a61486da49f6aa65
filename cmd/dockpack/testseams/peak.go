package testseams

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// EnvPeakFile names a file into which the process writes, as it exits, its
// own peak resident set size in bytes (VmHWM of /proc/self/status: the
// kernel's high-water mark since the exec). The benchmarks read it instead
// of polling /proc/<pid>/status from the test process — polling costs CPU
// on the machine being measured — or of rusage's Maxrss, which os/exec's
// vfork-style start makes at least the parent's RSS.
const EnvPeakFile = "DOCKPACK_TEST_PEAK_FILE"

// WritePeak writes the process's VmHWM to $DOCKPACK_TEST_PEAK_FILE (no-op
// without it). A failure is ignored: the benchmark reading the file fails
// on its absence.
func WritePeak() {
	name := os.Getenv(EnvPeakFile)
	if name == "" {
		return
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	if n, ok := vmHWM(status); ok {
		_ = os.WriteFile(name, []byte(strconv.FormatInt(n, 10)+"\n"), 0o600)
	}
}

// vmHWM is the VmHWM line of a /proc/<pid>/status, in bytes.
func vmHWM(status []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}
