package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// The process's soft memory limit (runtime/debug.SetMemoryLimit): the
// garbage collector works harder as the Go heap, stacks and runtime
// approach it, instead of letting the heap grow to twice what is live
// before it collects. The buffers of a backup are bounded by design
// (docs/object-storage.md, "Memory"); the limit keeps what is garbage from
// piling on top of them, so a multi-gigabyte backup to object storage
// peaks under 128 MiB of RSS. It is soft: a process that needs more live
// memory gets it, at the cost of more collections.
const (
	// envMemoryLimit sets it for every command (the CLI and the daemon):
	// a size ("100MiB", "1GiB", bytes) or "off".
	envMemoryLimit = "DOCKPACK_MEMORY_LIMIT"
	// baseMemoryLimit is the default limit on up to two CPUs; perWorker
	// is added for each CPU beyond, up to four: a store backup hashes and
	// compresses on one worker per CPU (at most 4), each with a chunk
	// buffer and a compressed frame of up to 8 MiB and a zstd encoder.
	baseMemoryLimit = 100 << 20
	perWorker       = 20 << 20
)

// defaultMemoryLimit is the limit when neither DOCKPACK_MEMORY_LIMIT nor
// GOMEMLIMIT is set: 100 MiB, and 20 MiB more per CPU beyond two, up to
// four (140 MiB) — so that the live buffers of a store backup on more CPUs
// stay under it and the collector does not run back to back.
func defaultMemoryLimit() int64 {
	return baseMemoryLimit + int64(min(max(runtime.GOMAXPROCS(0)-2, 0), 2))*perWorker
}

func init() { applyMemoryLimit(os.Getenv, os.Stderr) }

// applyMemoryLimit sets the limit from the environment: GOMEMLIMIT (the Go
// runtime's own, already applied) wins; else DOCKPACK_MEMORY_LIMIT; else
// the default. A value that does not parse is reported and the default
// applies. It returns the limit set (math.MaxInt64: none; -1: GOMEMLIMIT's).
func applyMemoryLimit(getenv func(string) string, warn *os.File) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return -1
	}
	limit, err := parseMemoryLimit(getenv(envMemoryLimit))
	if err != nil {
		if warn != nil {
			fmt.Fprintf(warn, "dockpack: %s: %v (the default %s applies)\n", envMemoryLimit, err, byteSize(defaultMemoryLimit()))
		}
		limit = defaultMemoryLimit()
	}
	debug.SetMemoryLimit(limit)
	return limit
}

// parseMemoryLimit parses DOCKPACK_MEMORY_LIMIT: "" is the default, "off"
// (or "0") no limit, else a size of at least 32 MiB.
func parseMemoryLimit(v string) (int64, error) {
	switch v = strings.TrimSpace(v); strings.ToLower(v) {
	case "":
		return defaultMemoryLimit(), nil
	case "off", "0", "none":
		return math.MaxInt64, nil
	}
	n, err := parseByteSize(v)
	if err != nil {
		return 0, fmt.Errorf("%w, or off", err)
	}
	if n < 32<<20 {
		return 0, fmt.Errorf("%s is below 32MiB (too little for a backup's buffers; off: no limit)", n)
	}
	return int64(n), nil
}
